/* cmdutil.c - see cmdutil.h. */
#include "cmdutil.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

int ls_cmdutil_parse_reset(const char *s, enum ls_offset_reset *ret)
{
	if (strcmp(s, "latest") == 0)
		*ret = LS_RESET_LATEST;
	else if (strcmp(s, "earliest") == 0)
		*ret = LS_RESET_EARLIEST;
	else
		return -EINVAL;
	return 0;
}

int ls_cmdutil_parse_isolation(const char *s, enum ls_isolation *ret)
{
	if (strcmp(s, "read_uncommitted") == 0)
		*ret = LS_ISOLATION_READ_UNCOMMITTED;
	else if (strcmp(s, "read_committed") == 0)
		*ret = LS_ISOLATION_READ_COMMITTED;
	else
		return -EINVAL;
	return 0;
}

void ls_cmdutil_bad_option(const char *cmd, char **argv, int c)
{
	/* optind has moved past the offending word; it is the one before. */
	const char *word = argv[optind - 1];

	if (c == ':')
		fprintf(stderr, "lagscale %s: %s needs a value\n", cmd, word);
	else if (optopt && optopt != '?')
		fprintf(stderr, "lagscale %s: unknown option -%c\n", cmd, optopt);
	else
		fprintf(stderr, "lagscale %s: unknown option %s\n", cmd, word);
}

void ls_cmdutil_print_diag(const struct ls_diag *diag, const char *path, int r)
{
	for (size_t i = 0; i < diag->n; i++)
		fprintf(stderr, "%s\n", diag->msgs[i]);
	if (r < 0 && diag->n == 0)
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
}
