/* parse.c - see parse.h. */
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ls_parse_int64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = (int64_t)v;
	return 0;
}

int ls_parse_int32(const char *s, int32_t *ret)
{
	int64_t v;
	int r = ls_parse_int64(s, &v);

	if (r < 0)
		return r;
	if (v < INT32_MIN || v > INT32_MAX)
		return -ERANGE;
	*ret = (int32_t)v;
	return 0;
}

int ls_parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end || isnan(v))
		return -EINVAL;
	if (errno == ERANGE || isinf(v))
		return -ERANGE;
	*ret = v;
	return 0;
}

int ls_parse_integral(double v, int64_t lo, int64_t hi, int64_t *ret)
{
	int64_t i;

	if (isnan(v) || (isfinite(v) && v != floor(v)))
		return -EINVAL;
	/* 2^63 is exact as a double; INT64_MAX is not (it rounds up to 2^63). */
	if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
		return -ERANGE;
	i = (int64_t)v;
	if (i < lo || i > hi)
		return -ERANGE;
	*ret = i;
	return 0;
}

int ls_parse_bool(const char *s, bool *ret)
{
	if (strcmp(s, "true") == 0)
		*ret = true;
	else if (strcmp(s, "false") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

int ls_parse_duration_ms(const char *s, int64_t *ret_ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	double total = 0, last_unit = INFINITY;
	const char *p = s;
	double plain;

	if (!s || !*s)
		return -EINVAL;
	/* Plain seconds: "15", "0.5". */
	if (ls_parse_double(s, &plain) == 0) {
		if (plain < 0)
			return -EINVAL;
		if (plain * 1000.0 > (double)LS_PARSE_DURATION_MAX_MS)
			return -ERANGE;
		*ret_ms = (int64_t)llround(plain * 1000.0);
		return 0;
	}
	while (*p) {
		char *end;
		double v;
		size_t i;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno == ERANGE)
			return -EINVAL;
		p = end;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);

			if (strncmp(p, units[i].unit, n) == 0) {
				/* "ms" must not be read as "m" followed by junk. */
				p += n;
				break;
			}
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		if (units[i].ms >= last_unit)
			return -EINVAL;
		last_unit = units[i].ms;
		total += v * units[i].ms;
		if (total > (double)LS_PARSE_DURATION_MAX_MS)
			return -ERANGE;
	}
	*ret_ms = (int64_t)llround(total);
	return 0;
}

char *ls_format_duration(int64_t ms, char *out, size_t size)
{
	size_t n = 0;
	int64_t h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, r = ms % 1000;

	if (size == 0)
		return out;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, size, "0s");
		return out;
	}
	if (h && n < size)
		n += (size_t)snprintf(out + n, size - n, "%lldh", (long long)h);
	if (m && n < size)
		n += (size_t)snprintf(out + n, size - n, "%lldm", (long long)m);
	if (s && n < size)
		n += (size_t)snprintf(out + n, size - n, "%llds", (long long)s);
	if (r && n < size)
		snprintf(out + n, size - n, "%lldms", (long long)r);
	return out;
}

/* Reads "{m}", "{m,}" or "{m,n}" at p (just after the '{'): the count that
 * bounds the copies regcomp makes, and the end; false when it is not one. */
static bool repeat_bound(const char *p, int64_t *ret_bound, const char **ret_end)
{
	int64_t m = 0, n = -1;

	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++)
		m = m < 100000000 ? m * 10 + (*p - '0') : m;
	if (*p == ',') {
		p++;
		if (isdigit((unsigned char)*p)) {
			n = 0;
			for (; isdigit((unsigned char)*p); p++)
				n = n < 100000000 ? n * 10 + (*p - '0') : n;
		}
	}
	if (*p != '}')
		return false;
	*ret_bound = n >= 0 ? n : m;
	*ret_end = p + 1;
	return true;
}

int ls_parse_regex_check(const char *re)
{
	/* For each open group, the largest cost of an atom in it so far. */
	int64_t stack[LS_REGEX_MAX_LEN + 1];
	size_t depth = 0;
	int64_t last = 1; /* the cost of the atom just read */
	const char *p = re;

	if (strlen(re) > LS_REGEX_MAX_LEN)
		return -E2BIG;
	stack[0] = 1;
	while (*p) {
		int64_t bound;
		const char *end;

		switch (*p) {
		case '\\':
			last = 1;
			p += p[1] ? 2 : 1;
			break;
		case '[':
			/* A bracket expression is one atom; "]" first is literal. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					const char *close = strchr(p + 2, p[1]);

					p = close && close[1] == ']' ? close + 2 : p + 1;
				} else {
					p++;
				}
			}
			if (*p)
				p++;
			last = 1;
			break;
		case '(':
			stack[++depth] = 1;
			last = 1;
			p++;
			break;
		case ')':
			if (depth > 0)
				last = stack[depth--];
			else
				last = 1;
			p++;
			break;
		case '{':
			if (!repeat_bound(p + 1, &bound, &end)) {
				last = 1;
				p++;
				break;
			}
			last *= bound > 1 ? bound : 1;
			if (last > LS_REGEX_MAX_REPEAT)
				return -ERANGE;
			p = end;
			break;
		default:
			last = 1;
			p++;
			break;
		}
		if (last > stack[depth])
			stack[depth] = last;
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const int32_t *x = a, *y = b;

	return (x[0] > y[0]) - (x[0] < y[0]);
}

int ls_parse_ranges(const char *s, struct ls_int_ranges *ret)
{
	struct ls_int_ranges rs = {NULL, 0};
	const char *p = s;
	size_t k = 0;

	while (*p) {
		char num[16];
		int32_t lo, hi;
		int32_t(*nr)[2];
		size_t n;

		while (*p == ' ')
			p++;
		n = strspn(p, "0123456789");
		if (n == 0 || n >= sizeof(num))
			goto bad;
		memcpy(num, p, n);
		num[n] = '\0';
		if (ls_parse_int32(num, &lo) < 0)
			goto bad;
		p += n;
		hi = lo;
		if (*p == '-') {
			p++;
			n = strspn(p, "0123456789");
			if (n == 0 || n >= sizeof(num))
				goto bad;
			memcpy(num, p, n);
			num[n] = '\0';
			if (ls_parse_int32(num, &hi) < 0 || hi < lo)
				goto bad;
			p += n;
		}
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			if (!*p)
				goto bad;
		} else if (*p) {
			goto bad;
		}
		nr = realloc(rs.r, (rs.n + 1) * sizeof(*rs.r));
		if (!nr) {
			free(rs.r);
			return -ENOMEM;
		}
		rs.r = nr;
		rs.r[rs.n][0] = lo;
		rs.r[rs.n][1] = hi;
		rs.n++;
	}
	if (rs.n) {
		/* Sort and merge overlapping or adjacent ranges. */
		qsort(rs.r, rs.n, sizeof(*rs.r), cmp_range);
		for (size_t i = 1; i < rs.n; i++) {
			if ((int64_t)rs.r[i][0] <= (int64_t)rs.r[k][1] + 1) {
				if (rs.r[i][1] > rs.r[k][1])
					rs.r[k][1] = rs.r[i][1];
			} else {
				k++;
				rs.r[k][0] = rs.r[i][0];
				rs.r[k][1] = rs.r[i][1];
			}
		}
		rs.n = k + 1;
	}
	*ret = rs;
	return 0;
bad:
	free(rs.r);
	return -EINVAL;
}

bool ls_ranges_contain(const struct ls_int_ranges *rs, int32_t v)
{
	size_t lo = 0, hi = rs->n;

	if (rs->n == 0)
		return true;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (v < rs->r[mid][0])
			hi = mid;
		else if (v > rs->r[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

void ls_ranges_release(struct ls_int_ranges *rs)
{
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}
