/*
 * parse.h - strict number and duration parsing (no atoi: every byte of the
 * input must be consumed, overflow is an error).
 */
#ifndef LS_UTIL_PARSE_H
#define LS_UTIL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 0, or -EINVAL (not a number / trailing junk) or -ERANGE. */
int ls_parse_int64(const char *s, int64_t *ret);
int ls_parse_int32(const char *s, int32_t *ret);
int ls_parse_double(const char *s, double *ret);
int ls_parse_bool(const char *s, bool *ret); /* true/false only */

/*
 * The one checked way from a double (a JSON number from cJSON, a YAML
 * number read as a double) to an integer: 0 and *ret when v is integral
 * and lo <= v <= hi; -EINVAL when v is NaN or has a fraction, -ERANGE when
 * it lies outside [lo, hi] (1e10 for an int32, 1e40 for anything). A cast
 * of such a double would be undefined behaviour. *ret untouched on failure.
 */
int ls_parse_integral(double v, int64_t lo, int64_t hi, int64_t *ret);

/* The longest duration lagscale reads: 366 days (8784h). Anything longer
 * is -ERANGE, so that a time plus a duration never overflows. */
#define LS_PARSE_DURATION_MAX_MS ((int64_t)366 * 24 * 3600 * 1000)

/*
 * Durations: "500ms", "15s", "5m", "1h30m", "1.5s", or plain seconds ("15",
 * "0.5"). Units: ms, s, m, h; components in decreasing order. The result is
 * in milliseconds. 0, -EINVAL or -ERANGE (above LS_PARSE_DURATION_MAX_MS);
 * negative durations are -EINVAL. *ret_ms untouched on failure.
 */
int ls_parse_duration_ms(const char *s, int64_t *ret_ms);

/* Writes a duration as the shortest form ls_parse_duration_ms reads back
 * ("1h30m", "15s", "500ms"). Returns out. */
char *ls_format_duration(int64_t ms, char *out, size_t size);

/*
 * Regular expressions (topicPattern) are compiled by the C library, whose
 * regcomp expands a bounded repetition {m,n} into n copies of what it
 * repeats: ((((a{1,100}){1,100}){1,100}){1,100}), 38 bytes, asks for 10^8
 * copies and gigabytes. Before compiling a pattern from outside, check it:
 * at most LS_REGEX_MAX_LEN bytes, and for every atom, the product of the
 * counts of the repetitions around it (n of {m,n}, m of {m,}) at most
 * LS_REGEX_MAX_REPEAT. 0, -E2BIG (too long) or -ERANGE (repetitions).
 * Syntax errors are left for regcomp to name.
 */
#define LS_REGEX_MAX_LEN    1024
#define LS_REGEX_MAX_REPEAT 1000
int ls_parse_regex_check(const char *re);

/*
 * Partition lists: "0-11,14" → sorted, de-duplicated ranges. An empty
 * string is "all" (n = 0). 0, -EINVAL on a malformed list.
 */
struct ls_int_ranges {
	int32_t (*r)[2]; /* inclusive [lo, hi] pairs */
	size_t n;
};
int ls_parse_ranges(const char *s, struct ls_int_ranges *ret);
bool ls_ranges_contain(const struct ls_int_ranges *rs, int32_t v);
void ls_ranges_release(struct ls_int_ranges *rs);

#endif
