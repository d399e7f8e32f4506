/* clock.c - see clock.h. */
#include "util/clock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* About 10,000 years in seconds: the range of timestamps parsed. */
#define LS_CLOCK_MAX_S ((int64_t)10000 * 366 * 86400)

int64_t ls_clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ls_clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *ls_clock_rfc3339(int64_t wall_ms, char *out, size_t size)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

char *ls_clock_rfc3339_micro(int64_t wall_ms, char *out, size_t size)
{
	time_t t = (time_t)(wall_ms / 1000);
	char base[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06dZ", base, (int)(wall_ms % 1000) * 1000);
	return out;
}

int ls_clock_parse_rfc3339(const char *s, int64_t *ret_wall_ms)
{
	struct tm tm;
	const char *p;
	int64_t ms = 0, off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		int digits = 0;

		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 3; digits++)
			ms *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		/* Exactly "hh:mm": every byte is checked before it is read past,
		 * so a short offset at the end of the string is refused, not
		 * skipped over. */
		const char *o = p + 1;
		int hh, mm;

		if (!isdigit((unsigned char)o[0]) || !isdigit((unsigned char)o[1]) || o[2] != ':' ||
		    !isdigit((unsigned char)o[3]) || !isdigit((unsigned char)o[4]))
			return -EINVAL;
		hh = (o[0] - '0') * 10 + (o[1] - '0');
		mm = (o[3] - '0') * 10 + (o[4] - '0');
		if (hh > 23 || mm > 59)
			return -EINVAL;
		off = (hh * 60 + mm) * 60;
		if (*p == '-')
			off = -off;
		p = o + 5;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	t = timegm(&tm);
	/* Years far outside any real timestamp would overflow the
	 * milliseconds below; refuse them (±10,000 years is ample). */
	if (t == (time_t)-1 || (int64_t)t > LS_CLOCK_MAX_S || (int64_t)t < -LS_CLOCK_MAX_S)
		return -ERANGE;
	*ret_wall_ms = ((int64_t)t - off) * 1000 + ms;
	return 0;
}

int ls_clock_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	if (nanosleep(&ts, NULL) < 0)
		return -errno;
	return 0;
}
