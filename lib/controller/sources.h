/*
 * sources.h - from configuration to Kafka: the client of a configured
 * cluster and the query of a configured scaler. Shared by the reconcile
 * loop and `lagscale lag --config`, so both read lag the same way.
 */
#ifndef LS_CONTROLLER_SOURCES_H
#define LS_CONTROLLER_SOURCES_H

#include <stddef.h>

#include "config/config.h"
#include "kafka/kafka.h"

/* ls_kafka_new() for a configured cluster; same returns. */
int ls_controller_kafka_new(const struct ls_config_cluster *cl, struct ls_kafka **ret,
			    char *errbuf, size_t errlen);

/*
 * ls_kafka_check_conf() for a configured cluster: what ls_controller_kafka_new
 * would refuse, without making a client. 0; -EINVAL with errbuf naming
 * the property ("property \"sasl.usernme\": No such configuration
 * property: ...") and *ret_prop its index in cl->props (SIZE_MAX when not
 * one property's); -ENOMEM.
 */
int ls_controller_kafka_check(const struct ls_config_cluster *cl, size_t *ret_prop, char *errbuf,
			      size_t errlen);

/* Fills *ret with the scaler's query; it points into the scaler, which
 * must outlive it. */
void ls_controller_query_for(const struct ls_config_scaler *s, struct ls_kafka_query *ret);

#endif
