/* backoff.c - see backoff.h. */
#include "util/backoff.h"

void ls_backoff_init(struct ls_backoff *b, int64_t base_ms, int64_t max_ms, uint64_t seed)
{
	b->base_ms = base_ms;
	b->max_ms = max_ms;
	b->attempt = 0;
	b->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t ls_rand_below(uint64_t *rng, uint64_t n)
{
	uint64_t x = *rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*rng = x;
	return n ? x % n : 0;
}

int64_t ls_backoff_next(struct ls_backoff *b)
{
	int64_t d = b->base_ms;

	for (unsigned i = 0; i < b->attempt && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	b->attempt++;
	return d / 2 + (int64_t)ls_rand_below(&b->rng, (uint64_t)(d - d / 2) + 1);
}

void ls_backoff_reset(struct ls_backoff *b)
{
	b->attempt = 0;
}
