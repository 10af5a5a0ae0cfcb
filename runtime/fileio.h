/* fileio.h - what the file readers and writers of the runtime share
 * (internal): one-line error messages that name the file, and writing a
 * file all or nothing. */
#ifndef DP_FILEIO_H
#define DP_FILEIO_H

#include <stddef.h>

#include "dpgen.h"

/* Where a message goes and which file it is about. */
typedef struct dp_file_ctx {
	const char *path;
	char *msg;
	size_t msg_len;
} dp_file_ctx;

/* Write "<path>: <formatted problem>" into the caller's buffer, if any,
 * and return st. */
dp_status dp_file_fail(const dp_file_ctx *c, dp_status st, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
/* An I/O failure: err is errno captured right after the failing call. */
dp_status dp_file_fail_io(const dp_file_ctx *c, const char *what, int err);
dp_status dp_file_fail_nomem(const dp_file_ctx *c, size_t bytes);

/* Writes the whole content to fd and closes fd, whatever happens; with
 * sync, fsyncs before closing. Reports failures through c. */
typedef dp_status (*dp_file_filler)(const dp_file_ctx *c, int fd, int sync,
                                    void *arg);

/* Write c->path all or nothing: into "<path>.tmpXXXXXX" in the same
 * directory (so rename stays on one file system), synced, then renamed
 * over path, with the mode of the file it replaces (0644 for a new one);
 * on failure the temporary file is removed. A device or pipe
 * (/dev/stdout, /dev/full) is written in place, since rename would
 * destroy it; a directory is an error. */
dp_status dp_file_write(const dp_file_ctx *c, dp_file_filler fill,
                        void *arg);

#endif
