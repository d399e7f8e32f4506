/* cmdutil.c - see cmdutil.h. */
#include "cmdutil.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define WRAP_COLUMNS 79

void ls_cmdutil_args_init(struct ls_cmdutil_args *a, const struct ls_cmdutil_command *cmd, int argc,
                          char **argv)
{
	size_t n = 0, o = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->argc = argc;
	a->argv = argv;
	/* ":" first: a missing value is told apart from an unknown flag. */
	a->optstring[o++] = ':';
	a->optstring[o++] = 'h';
	for (const struct ls_cmdutil_flag *f = cmd->flags; f && f->id && n < LS_CMDUTIL_MAX_FLAGS;
	     f++) {
		if (f->name)
			a->longopts[n++] = (struct option){
			    f->name, f->arg ? required_argument : no_argument, NULL, f->id};
		if (f->short_name) {
			a->optstring[o++] = f->short_name;
			if (f->arg)
				a->optstring[o++] = ':';
		}
	}
	a->longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	a->optstring[o] = '\0';
	optind = 1;
	opterr = 0;
}

/* The flag whose id (or short name) getopt returned; NULL if none. */
static const struct ls_cmdutil_flag *flag_of(const struct ls_cmdutil_command *cmd, int c)
{
	for (const struct ls_cmdutil_flag *f = cmd->flags; f && f->id; f++)
		if (f->id == c || (f->short_name && f->short_name == c))
			return f;
	return NULL;
}

int ls_cmdutil_next(struct ls_cmdutil_args *a, const char **ret_value)
{
	const struct ls_cmdutil_flag *f;
	int c = getopt_long(a->argc, a->argv, a->optstring, a->longopts, NULL);

	if (c == -1)
		return LS_CMDUTIL_END;
	if (c == 'h') {
		ls_cmdutil_help(a->cmd, stdout);
		return LS_CMDUTIL_HELP;
	}
	f = c == '?' || c == ':' ? NULL : flag_of(a->cmd, c);
	if (!f) {
		/* optind has moved past the offending word; it is the one before. */
		const char *word = a->argv[optind - 1];

		if (c == ':')
			ls_cmdutil_usage_error(a->cmd, "%s needs a value", word);
		else if (optopt && optopt != '?')
			ls_cmdutil_usage_error(a->cmd, "unknown flag -%c", optopt);
		else
			ls_cmdutil_usage_error(a->cmd, "unknown flag %s", word);
		return LS_CMDUTIL_BAD;
	}
	*ret_value = f->arg ? optarg : NULL;
	return f->id;
}

int ls_cmdutil_usage_error(const struct ls_cmdutil_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lagscale %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'lagscale %s --help' for its flags and examples.\n", cmd->name);
	return 2;
}

void ls_cmdutil_wrap(FILE *out, const char *text, int first_indent, int indent)
{
	const char *p = text;
	int col = 0;
	bool line_start = true;

	fprintf(out, "%*s", first_indent, "");
	col = first_indent;
	while (*p) {
		size_t len;

		if (p[0] == '\n' && p[1] == '\n') {
			/* A paragraph ends: a blank line, then the next one. */
			fprintf(out, "\n\n%*s", indent, "");
			col = indent;
			line_start = true;
			p += 2;
			continue;
		}
		if (*p == ' ' || *p == '\n') {
			p++;
			continue;
		}
		len = strcspn(p, " \n");
		if (!line_start && col + 1 + (int)len > WRAP_COLUMNS) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
			line_start = true;
		}
		if (!line_start) {
			fputc(' ', out);
			col++;
		}
		fwrite(p, 1, len, out);
		col += (int)len;
		line_start = false;
		p += len;
	}
	fputc('\n', out);
}

/* Prints text line by line, each indented by two spaces. */
static void print_indented(FILE *out, const char *text)
{
	while (*text) {
		size_t len = strcspn(text, "\n");

		if (len)
			fprintf(out, "  %.*s", (int)len, text);
		fputc('\n', out);
		text += len;
		if (*text == '\n')
			text++;
	}
}

static void print_flag(FILE *out, const struct ls_cmdutil_flag *f)
{
	fputs("  ", out);
	if (f->short_name && f->name)
		fprintf(out, "-%c, --%s", f->short_name, f->name);
	else if (f->short_name)
		fprintf(out, "-%c", f->short_name);
	else
		fprintf(out, "--%s", f->name);
	if (f->arg)
		fprintf(out, " %s", f->arg);
	if (f->def)
		fprintf(out, "   (default: %s)", f->def);
	fputc('\n', out);
	ls_cmdutil_wrap(out, f->help, 8, 8);
}

void ls_cmdutil_help(const struct ls_cmdutil_command *cmd, FILE *out)
{
	static const struct ls_cmdutil_flag help_flag = {
	    "help", 'h', 'h', NULL, NULL, "Show this help and exit.",
	};

	fprintf(out, "lagscale %s - %s\n\nUsage:\n", cmd->name, cmd->summary);
	print_indented(out, cmd->usage);
	if (cmd->description) {
		fputc('\n', out);
		ls_cmdutil_wrap(out, cmd->description, 0, 0);
	}
	fputs("\nFlags:\n", out);
	for (const struct ls_cmdutil_flag *f = cmd->flags; f && f->id; f++)
		print_flag(out, f);
	print_flag(out, &help_flag);
	if (cmd->examples) {
		fputs("\nExamples:\n", out);
		print_indented(out, cmd->examples);
	}
	fputs("\nExit codes:\n", out);
	print_indented(out, cmd->exit_codes ? cmd->exit_codes
	                                    : "0  success\n"
	                                      "1  a runtime failure\n"
	                                      "2  bad usage (a flag or argument)");
}

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

void ls_cmdutil_print_diag(const struct ls_diag *diag, const char *path, int r)
{
	for (size_t i = 0; i < diag->n; i++)
		fprintf(stderr, "%s\n", diag->msgs[i]);
	if (r < 0 && diag->n == 0)
		fprintf(stderr, "%s: %s\n", path, strerror(-r));
}
