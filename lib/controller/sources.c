/* sources.c - see sources.h. */
#include "controller/sources.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The cluster's properties as lib/kafka takes them; NULL without memory. */
static struct ls_kafka_prop *kafka_props(const struct ls_config_cluster *cl)
{
	struct ls_kafka_prop *props = calloc(cl->n_props + 1, sizeof(*props));

	for (size_t i = 0; props && i < cl->n_props; i++) {
		props[i].key = cl->props[i].key;
		props[i].value = cl->props[i].value;
	}
	return props;
}

int ls_controller_kafka_new(const struct ls_config_cluster *cl, struct ls_kafka **ret,
			    char *errbuf, size_t errlen)
{
	struct ls_kafka_prop *props = kafka_props(cl);
	int r;

	if (!props)
		return -ENOMEM;
	r = ls_kafka_new(cl->name, cl->bootstrap_servers, props, cl->n_props, ret, errbuf, errlen);
	free(props);
	return r;
}

int ls_controller_kafka_check(const struct ls_config_cluster *cl, size_t *ret_prop, char *errbuf,
			      size_t errlen)
{
	struct ls_kafka_prop *props = kafka_props(cl);
	size_t bad = SIZE_MAX;
	int r;

	if (!props)
		return -ENOMEM;
	r = ls_kafka_check_conf(cl->name, cl->bootstrap_servers, props, cl->n_props, &bad, errbuf,
				errlen);
	free(props);
	if (r != -EINVAL)
		return r;
	if (ret_prop)
		*ret_prop = bad;
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
