/*
 * fuzz.h - what the fuzz targets of test/fuzz share: the libFuzzer entry
 * point every fuzz-TARGET.c defines, and small helpers to turn the bytes
 * of an input into the strings and numbers a parser takes.
 *
 * Each target is built twice: with clang and libFuzzer (meson -Dfuzz=true,
 * run by scripts/fuzz), and with the normal compiler into a replay test
 * (replay.c) that runs the target once on every file of its seed corpus
 * and of its regression inputs. A target therefore never keeps state
 * that changes its behaviour from one input to the next, and checks what
 * it asserts with LS_FUZZ_CHECK (abort: a finding), never with assert()
 * (gone under NDEBUG).
 */
#ifndef LS_TEST_FUZZ_H
#define LS_TEST_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called once per input; returns 0. A crash or an abort is a finding. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the condition and its place when cond is false. */
#define LS_FUZZ_CHECK(cond)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ls_fuzz_fail(__FILE__, __LINE__, #cond);                                   \
	} while (0)

void ls_fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* A NUL-terminated heap copy of data[0..size) (free it); aborts on ENOMEM.
 * A NUL inside the data ends the C string early, as it would for a parser. */
char *ls_fuzz_cstr(const void *data, size_t size);

/*
 * False when a ${file:...} in the input names anything but a plain file
 * name (letters, digits, '.', '_', '-'), relative to the working directory
 * or the target's temporary directory. Reading /dev/stdin, a FIFO or
 * /dev/zero through ${file:} hangs or exhausts memory today (issue 15,
 * fixed on another branch); the loader targets skip such inputs so that
 * one known hang does not stop a run. Remove the guard once the loader
 * reads regular files only.
 */
bool ls_fuzz_file_refs_safe(const void *data, size_t size);

/* A reader over the input's bytes: numbers first, strings after. */
struct ls_fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The next n bytes (fewer at the end; 0 past it) as a little-endian number. */
uint64_t ls_fuzz_u64(struct ls_fuzz_in *in, size_t n);
/* The bytes up to the next '\n' (or the end), without it, as a heap C
 * string of at most max bytes (free it). */
char *ls_fuzz_line(struct ls_fuzz_in *in, size_t max);

#endif
