/* fuzz_util.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * The readers under test take a path, so inputs go through a file in
 * $FUZZ_TMPDIR (default /tmp) named after the process (libFuzzer's
 * -jobs/-workers run several processes at once; each gets its own). */
#ifndef DP_FUZZ_UTIL_H
#define DP_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MSG_LEN 512

/* "$FUZZ_TMPDIR/dpgen-fuzz-<pid>-<tag>" into buf; FUZZ_TMPDIR defaults
 * to /tmp (/dev/shm makes the file targets faster). */
static __attribute__((unused)) void fuzz_tmp_path(char *buf, size_t cap,
                                                  const char *tag)
{
	const char *dir = getenv("FUZZ_TMPDIR");

	snprintf(buf, cap, "%s/dpgen-fuzz-%ld-%s", dir && *dir ? dir : "/tmp",
	         (long)getpid(), tag);
}

/* Write n bytes to path (truncating); aborts on failure, which is a
 * problem of the machine, not a finding. */
static __attribute__((unused)) void fuzz_write(const char *path,
                                               const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/* The message contract of the library: one NUL-terminated line. */
static __attribute__((unused)) void fuzz_check_msg(const char *msg,
                                                   size_t cap)
{
	if (!memchr(msg, '\0', cap) || strchr(msg, '\n')) {
		fprintf(stderr, "message is not one terminated line\n");
		abort();
	}
}

/* Split data into at most max words at NUL and newline bytes, each copied
 * NUL-terminated into one malloc'd block (*block; free it). Returns the
 * number of words; argv[count] is NULL. */
static __attribute__((unused)) int fuzz_split(const uint8_t *data,
                                              size_t size, char **argv,
                                              int max, char **block)
{
	char *b = malloc(size + 1);
	int count = 0;
	size_t start = 0;

	if (!b)
		abort();
	memcpy(b, data, size);
	b[size] = '\0';
	for (size_t i = 0; i <= size && count < max; i++) {
		if (i == size || b[i] == '\0' || b[i] == '\n') {
			b[i] = '\0';
			/* A trailing separator does not make an empty word. */
			if (i < size || i > start)
				argv[count++] = b + start;
			start = i + 1;
		}
	}
	argv[count] = NULL;
	*block = b;
	return count;
}

#endif
