/*
 * fuzz-decision.c - the JSON Lines decision writer of `lagscale run
 * --output json` and `demo` (ls_controller_print_decision), round trip:
 * a decision built from the input (numbers first, then the scaler's name,
 * its target, the assignor and the reason, one a line, any bytes but NUL)
 * is written, the line parsed back with cJSON, and every field compared.
 * The text form is written too (it must not crash).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "fuzz.h"
#include "util/clock.h"

/* 9999-12-31T23:59:59Z: the times RFC 3339 can write. */
#define MAX_WALL_MS 253402300799999LL

static void check_str(const cJSON *o, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	LS_FUZZ_CHECK(cJSON_IsString(v) && strcmp(v->valuestring, want) == 0);
}

static void check_int(const cJSON *o, const char *key, int64_t want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	LS_FUZZ_CHECK(cJSON_IsNumber(v) && v->valuedouble == (double)want);
}

static void check_null(const cJSON *o, const char *key)
{
	LS_FUZZ_CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key)));
}

static char *write_decision(enum ls_output fmt, int64_t wall_ms, const struct ls_config_scaler *s,
                            const struct ls_decision *d, bool applied, size_t *ret_len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, ret_len);

	if (!f)
		abort();
	ls_controller_print_decision(f, fmt, wall_ms, s, d, applied);
	if (fclose(f) != 0)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_fuzz_in in = {data, size};
	struct ls_config_scaler s;
	struct ls_decision d;
	int64_t wall_ms = (int64_t)(ls_fuzz_u64(&in, 6) % (MAX_WALL_MS + 1));
	bool applied;
	char *name, *assignor, *reason, *text, target[512], ts[40];
	size_t len;
	cJSON *j;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	d.action = (enum ls_action)(ls_fuzz_u64(&in, 1) % (LS_ACTION_ERROR + 1));
	applied = ls_fuzz_u64(&in, 1) & 1;
	d.current_replicas = (int32_t)ls_fuzz_u64(&in, 4);
	d.recommended_replicas = (int32_t)ls_fuzz_u64(&in, 4);
	d.desired_replicas = (int32_t)ls_fuzz_u64(&in, 4);
	d.total_lag = (int64_t)ls_fuzz_u64(&in, 8);
	d.partition_count = (int32_t)ls_fuzz_u64(&in, 4);
	d.members = (int32_t)ls_fuzz_u64(&in, 4);
	name = ls_fuzz_line(&in, 256);
	s.target.namespace_ = ls_fuzz_line(&in, 256);
	s.target.kind = ls_fuzz_line(&in, 256);
	s.target.name = ls_fuzz_line(&in, 256);
	assignor = ls_fuzz_line(&in, sizeof(d.assignor) - 1);
	reason = ls_fuzz_line(&in, sizeof(d.reason) - 1);
	s.name = name;
	memcpy(d.assignor, assignor, strlen(assignor) + 1);
	memcpy(d.reason, reason, strlen(reason) + 1);

	text = write_decision(LS_OUTPUT_JSON, wall_ms, &s, &d, applied, &len);
	/* One line: the only newline ends it. */
	LS_FUZZ_CHECK(len > 0 && strlen(text) == len && text[len - 1] == '\n');
	LS_FUZZ_CHECK(memchr(text, '\n', len) == text + len - 1);
	j = cJSON_Parse(text);
	LS_FUZZ_CHECK(cJSON_IsObject(j));
	check_str(j, "time", ls_clock_rfc3339(wall_ms, ts, sizeof(ts)));
	check_str(j, "scaler", name);
	snprintf(target, sizeof(target), "%s/%s/%s", s.target.namespace_, s.target.kind,
	         s.target.name);
	check_str(j, "target", target);
	check_int(j, "currentReplicas", d.current_replicas);
	check_int(j, "recommendedReplicas", d.recommended_replicas);
	check_int(j, "desiredReplicas", d.desired_replicas);
	if (d.total_lag >= 0 && d.total_lag <= (1LL << 53))
		check_int(j, "totalLag", d.total_lag);
	else if (d.total_lag < 0)
		check_null(j, "totalLag");
	if (d.partition_count >= 0)
		check_int(j, "partitionCount", d.partition_count);
	else
		check_null(j, "partitionCount");
	if (d.members >= 0) {
		check_int(j, "members", d.members);
		if (assignor[0])
			check_str(j, "assignor", assignor);
		else
			check_null(j, "assignor");
	} else {
		check_null(j, "members");
		check_null(j, "assignor");
	}
	check_str(j, "action", ls_policy_action_name(d.action));
	check_str(j, "reason", reason);
	LS_FUZZ_CHECK(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(j, "applied")) &&
	              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "applied")) == applied);
	cJSON_Delete(j);
	free(text);

	text = write_decision(LS_OUTPUT_TEXT, wall_ms, &s, &d, applied, &len);
	LS_FUZZ_CHECK(len > 0 && text[len - 1] == '\n');
	free(text);

	free(name);
	free(s.target.namespace_);
	free(s.target.kind);
	free(s.target.name);
	free(assignor);
	free(reason);
	return 0;
}
