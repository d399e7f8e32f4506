/*
 * backoff.h - exponential backoff with full jitter, for retries.
 *
 * The random source is a small xorshift state of the caller's, so tests can
 * seed it and the sequence is reproducible.
 */
#ifndef LS_UTIL_BACKOFF_H
#define LS_UTIL_BACKOFF_H

#include <stdint.h>

struct ls_backoff {
	int64_t base_ms;
	int64_t max_ms;
	unsigned attempt;
	uint64_t rng;
};

void ls_backoff_init(struct ls_backoff *b, int64_t base_ms, int64_t max_ms, uint64_t seed);
/* The delay before the next attempt: uniform in [d/2, d], d = min(max, base*2^attempt). */
int64_t ls_backoff_next(struct ls_backoff *b);
void ls_backoff_reset(struct ls_backoff *b);

/* A uniform random number in [0, n) from the xorshift state *rng. */
uint64_t ls_rand_below(uint64_t *rng, uint64_t n);

#endif
