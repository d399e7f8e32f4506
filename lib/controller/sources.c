/* sources.c - see sources.h. */
#include "controller/sources.h"

#include <errno.h>
#include <stdlib.h>

int ls_controller_kafka_new(const struct ls_config_cluster *cl, struct ls_kafka **ret,
			    char *errbuf, size_t errlen)
{
	struct ls_kafka_prop *props = calloc(cl->n_props + 1, sizeof(*props));
	int r;

	if (!props)
		return -ENOMEM;
	for (size_t i = 0; i < cl->n_props; i++) {
		props[i].key = cl->props[i].key;
		props[i].value = cl->props[i].value;
	}
	r = ls_kafka_new(cl->name, cl->bootstrap_servers, props, cl->n_props, ret, errbuf, errlen);
	free(props);
	return r;
}

void ls_controller_query_for(const struct ls_config_scaler *s, struct ls_kafka_query *ret)
{
	ret->group = s->kafka.group;
	ret->topics = (const char *const *)s->kafka.topics;
	ret->n_topics = s->kafka.n_topics;
	ret->topic_pattern = s->kafka.topic_pattern;
	ret->partitions = &s->kafka.partitions;
	ret->reset = s->kafka.offset_reset;
	ret->isolation = s->kafka.isolation;
}
