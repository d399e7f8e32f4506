/*
 * strset.h - a set of borrowed strings, each with a number (an index into
 * the caller's array), in a hash table with open addressing: "seen this
 * name before, and where?" over inputs from outside in linear time (the
 * entries of a kubeconfig, the files of KUBECONFIG). The strings are not
 * copied: each must outlive the set. Embed it: _init/_release. Not
 * thread-safe.
 */
#ifndef LS_UTIL_STRSET_H
#define LS_UTIL_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct ls_strset_slot {
	const char *key; /* NULL: empty */
	size_t value;
};

struct ls_strset {
	struct ls_strset_slot *slots;
	size_t n_slots; /* 0 or a power of two */
	size_t n;
};

void ls_strset_init(struct ls_strset *s);
void ls_strset_release(struct ls_strset *s);

/*
 * Adds key (borrowed) with value. 1 when it was added; 0 when an equal key
 * was there already (the set is unchanged and *ret_value, when not NULL,
 * is that key's value); -ENOMEM (unchanged).
 */
int ls_strset_add(struct ls_strset *set, const char *key, size_t value, size_t *ret_value);

/* Adds key with value, or gives an equal key already there this key and
 * value (the later definition wins). 0 or -ENOMEM (unchanged). */
int ls_strset_put(struct ls_strset *set, const char *key, size_t value);

/* true and *ret_value (may be NULL) when an equal key is in the set. */
bool ls_strset_find(const struct ls_strset *set, const char *key, size_t *ret_value);

#endif
