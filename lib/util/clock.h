/*
 * clock.h - time for the parts that do I/O. The policy engine never calls
 * these: its time is an argument.
 */
#ifndef LS_UTIL_CLOCK_H
#define LS_UTIL_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock (for deadlines and intervals). */
int64_t ls_clock_mono_ms(void);
/* Milliseconds since the Unix epoch (for timestamps people read). */
int64_t ls_clock_wall_ms(void);
/* RFC 3339 UTC with seconds, "2026-11-27T15:00:00Z"; returns out. */
char *ls_clock_rfc3339(int64_t wall_ms, char *out, size_t size);
/* RFC 3339 UTC with microseconds (Kubernetes MicroTime). */
char *ls_clock_rfc3339_micro(int64_t wall_ms, char *out, size_t size);
/* Parses RFC 3339 ("Z" or ±hh:mm, optional fraction) into epoch ms.
 * 0; -EINVAL when s is not RFC 3339 (every byte must be consumed);
 * -ERANGE for a time more than about 10,000 years from 1970.
 * *ret_wall_ms untouched on failure. */
int ls_clock_parse_rfc3339(const char *s, int64_t *ret_wall_ms);
/* Sleeps, returning early (with -EINTR) when a signal arrives. */
int ls_clock_sleep_ms(int64_t ms);

#endif
