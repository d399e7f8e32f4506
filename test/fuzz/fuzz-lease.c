/*
 * fuzz-lease.c - a Lease as the leader election reads it
 * (ls_kube_lease_parse), fed to the election (observe, next step, wait),
 * and written back as JSON (ls_kube_lease_json) and parsed again: the
 * record must survive the round trip.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kube/kube-internal.h"
#include "kube/leader.h"

/* 9999-12-31T23:59:59.999Z: the times RFC 3339 can write. */
#define MAX_WALL_MS 253402300799999LL

static bool writable_time(int64_t ms)
{
	return ms >= 0 && ms <= MAX_WALL_MS;
}

static void round_trip(const struct ls_kube_lease_record *rec, const char *rv)
{
	struct ls_kube_lease_record back;
	char *json = NULL, rv2[64];
	cJSON *j;

	if (ls_kube_lease_json("ns", "lease", rv, rec, &json) < 0)
		abort();
	j = cJSON_Parse(json);
	LS_FUZZ_CHECK(j);
	memset(&back, 0, sizeof(back));
	if (rv[0]) {
		LS_FUZZ_CHECK(ls_kube_lease_parse(j, &back, rv2, sizeof(rv2)) == 0);
		LS_FUZZ_CHECK(strcmp(rv, rv2) == 0);
		LS_FUZZ_CHECK(strcmp(back.holder, rec->holder) == 0);
		LS_FUZZ_CHECK(back.lease_duration_s == rec->lease_duration_s);
		LS_FUZZ_CHECK(back.transitions == rec->transitions);
		if (writable_time(rec->acquire_ms))
			LS_FUZZ_CHECK(back.acquire_ms == rec->acquire_ms);
		if (writable_time(rec->renew_ms))
			LS_FUZZ_CHECK(back.renew_ms == rec->renew_ms);
	}
	cJSON_Delete(j);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	struct ls_kube_lease_record rec, next;
	struct ls_kube_election e;
	struct ls_kube_election_params p = {15000, 10000, 2000};
	char rv[64] = "untouched";

	memset(&rec, 0, sizeof(rec));
	if (ls_kube_lease_parse(j, &rec, rv, sizeof(rv)) != 0) {
		LS_FUZZ_CHECK(strcmp(rv, "untouched") == 0);
		cJSON_Delete(j);
		return 0;
	}
	LS_FUZZ_CHECK(memchr(rec.holder, '\0', sizeof(rec.holder)));
	round_trip(&rec, rv);
	/* The election, as the leader thread runs it: seen now, then later. */
	ls_kube_election_init(&e, "fuzz-identity", &p);
	ls_kube_election_observe(&e, &rec, rv, 1000);
	for (int64_t now = 1000; now < 1000 + 3 * 3600000LL; now = now * 7 + 1) {
		ls_kube_election_wait_ms(&e, now);
		if (ls_kube_election_next(&e, now, 1700000000000LL + now, &next) !=
		    LS_KUBE_ELECT_WAIT) {
			ls_kube_election_written(&e, &next, "2", now);
			LS_FUZZ_CHECK(ls_kube_election_is_leader(&e, now));
			round_trip(&next, "2");
		}
	}
	if (ls_kube_election_release(&e, 1700000000000LL, &next))
		round_trip(&next, "3");
	cJSON_Delete(j);
	return 0;
}
