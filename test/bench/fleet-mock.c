/* fleet-mock.c - see fleet-mock.h. */
#include "fleet-mock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

void fleet_topic_name(int g, char *buf, size_t size)
{
	snprintf(buf, size, "bench-topic-%04d", g);
}

void fleet_group_name(int g, char *buf, size_t size)
{
	snprintf(buf, size, "bench-group-%04d", g);
}

int fleet_mock_populate(struct ls_kafka_mock *m, int groups, int partitions)
{
	struct ls_kafka_mock_offset *offs = calloc((size_t)partitions, sizeof(*offs));
	char topic[32], group[32];
	int r = -ENOMEM;

	if (!offs)
		return -ENOMEM;
	for (int g = 0; g < groups; g++) {
		fleet_topic_name(g, topic, sizeof(topic));
		if ((r = ls_kafka_mock_topic_create(m, topic, partitions)) < 0)
			goto out;
		for (int p = 0; p < partitions; p++)
			if ((r = ls_kafka_mock_produce(m, topic, p, p + 2, 0)) < 0)
				goto out;
	}
	if ((r = ls_kafka_mock_flush(m, 120000)) < 0)
		goto out;
	for (int g = 0; g < groups; g++) {
		fleet_topic_name(g, topic, sizeof(topic));
		fleet_group_name(g, group, sizeof(group));
		for (int p = 1; p < partitions; p++)
			offs[p - 1] = (struct ls_kafka_mock_offset){topic, p, p + 1};
		if ((r = ls_kafka_mock_commit(m, group, offs, (size_t)partitions - 1)) < 0)
			goto out;
	}
	r = 0;
out:
	free(offs);
	return r;
}
