/*
 * cmdutil.h - small helpers the subcommands share: enum flags and the
 * message for a bad option, so every command words them the same way.
 */
#ifndef LS_CMDUTIL_H
#define LS_CMDUTIL_H

#include "util/diag.h"
#include "util/offsets.h"

/* 0, or -EINVAL when s is not one of the names. */
int ls_cmdutil_parse_reset(const char *s, enum ls_offset_reset *ret);
int ls_cmdutil_parse_isolation(const char *s, enum ls_isolation *ret);

/* Prints "lagscale CMD: unknown option X" or "X needs a value" for the
 * getopt_long result c (with ":" leading the optstring), naming the flag. */
void ls_cmdutil_bad_option(const char *cmd, char **argv, int c);

/* Prints every diagnostic of a failed load (r < 0) to stderr, one per line;
 * when there is none, the error of r against path. */
void ls_cmdutil_print_diag(const struct ls_diag *diag, const char *path, int r);

#endif
