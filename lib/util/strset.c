/* strset.c - see strset.h. */
#include "util/strset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ls_strset_init(struct ls_strset *s)
{
	s->slots = NULL;
	s->n_slots = 0;
	s->n = 0;
}

void ls_strset_release(struct ls_strset *s)
{
	free(s->slots);
	ls_strset_init(s);
}

/* FNV-1a: simple, and good enough for names. */
static size_t hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static size_t slot_of(const struct ls_strset_slot *slots, size_t n_slots, const char *key)
{
	size_t i = hash(key) & (n_slots - 1);

	while (slots[i].key && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (n_slots - 1);
	return i;
}

bool ls_strset_find(const struct ls_strset *set, const char *key, size_t *ret_value)
{
	size_t i;

	if (set->n_slots == 0)
		return false;
	i = slot_of(set->slots, set->n_slots, key);
	if (!set->slots[i].key)
		return false;
	if (ret_value)
		*ret_value = set->slots[i].value;
	return true;
}

int ls_strset_add(struct ls_strset *set, const char *key, size_t value, size_t *ret_value)
{
	size_t i;

	/* Kept at most half full, so that probes stay short. */
	if ((set->n + 1) * 2 > set->n_slots) {
		size_t n = set->n_slots ? set->n_slots * 2 : 16;
		struct ls_strset_slot *slots;

		if (n > SIZE_MAX / sizeof(*slots))
			return -ENOMEM;
		slots = calloc(n, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t j = 0; j < set->n_slots; j++)
			if (set->slots[j].key)
				slots[slot_of(slots, n, set->slots[j].key)] = set->slots[j];
		free(set->slots);
		set->slots = slots;
		set->n_slots = n;
	}
	i = slot_of(set->slots, set->n_slots, key);
	if (set->slots[i].key) {
		if (ret_value)
			*ret_value = set->slots[i].value;
		return 0;
	}
	set->slots[i].key = key;
	set->slots[i].value = value;
	set->n++;
	return 1;
}

int ls_strset_put(struct ls_strset *set, const char *key, size_t value)
{
	int r = ls_strset_add(set, key, value, NULL);
	size_t i;

	if (r != 0)
		return r < 0 ? r : 0;
	i = slot_of(set->slots, set->n_slots, key);
	set->slots[i].key = key;
	set->slots[i].value = value;
	return 0;
}
