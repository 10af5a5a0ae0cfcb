/* fileio.c - see fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

dp_status dp_file_fail(const dp_file_ctx *c, dp_status st, const char *fmt,
                       ...)
{
	va_list ap;
	int n;

	if (!c->msg || c->msg_len == 0)
		return st;
	n = snprintf(c->msg, c->msg_len, "%s: ",
	             c->path ? c->path : "(null path)");
	if (n < 0 || (size_t)n >= c->msg_len)
		return st;
	va_start(ap, fmt);
	vsnprintf(c->msg + n, c->msg_len - (size_t)n, fmt, ap);
	va_end(ap);
	return st;
}

dp_status dp_file_fail_io(const dp_file_ctx *c, const char *what, int err)
{
	return dp_file_fail(c, DP_ERR_IO, "%s: %s", what, strerror(err));
}

dp_status dp_file_fail_nomem(const dp_file_ctx *c, size_t bytes)
{
	return dp_file_fail(c, DP_ERR_NOMEM, "out of memory (needed %zu bytes)",
	                    bytes);
}

static dp_status write_atomic(const dp_file_ctx *c, mode_t mode,
                              dp_file_filler fill, void *arg)
{
	static const char suffix[] = ".tmpXXXXXX";
	size_t plen = strlen(c->path);
	dp_status st;
	char *tmp;
	int fd;

	if (plen > SIZE_MAX - sizeof suffix)
		return dp_file_fail(c, DP_ERR_ARG, "path is too long");
	tmp = malloc(plen + sizeof suffix);
	if (!tmp)
		return dp_file_fail_nomem(c, plen + sizeof suffix);
	memcpy(tmp, c->path, plen);
	memcpy(tmp + plen, suffix, sizeof suffix);
	fd = mkstemp(tmp);
	if (fd < 0) {
		int err = errno;

		free(tmp);
		return dp_file_fail_io(c, "cannot create a temporary file next "
		                       "to it", err);
	}
	/* mkstemp creates mode 0600; give the file its final mode. */
	if (fchmod(fd, mode) != 0) {
		int err = errno;

		close(fd);
		st = dp_file_fail_io(c, "cannot set the temporary file's mode",
		                     err);
	} else {
		st = fill(c, fd, 1, arg);
	}
	if (st == DP_OK && rename(tmp, c->path) != 0)
		st = dp_file_fail_io(c, "cannot rename the temporary file into "
		                     "place", errno);
	if (st != DP_OK)
		unlink(tmp);
	free(tmp);
	return st;
}

dp_status dp_file_write(const dp_file_ctx *c, dp_file_filler fill,
                        void *arg)
{
	/* New files get the usual 0644: reading the umask would mean
	 * changing it, which is not safe in a threaded program. */
	mode_t mode = 0644;
	struct stat sb;

	if (!c->path)
		return dp_file_fail(c, DP_ERR_ARG, "no path given");
	if (stat(c->path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return dp_file_fail(c, DP_ERR_IO, "is a directory");
		if (!S_ISREG(sb.st_mode)) {
			int fd = open(c->path, O_WRONLY | O_CLOEXEC);

			if (fd < 0)
				return dp_file_fail_io(c, "cannot open for "
				                       "writing", errno);
			return fill(c, fd, 0, arg);
		}
		/* Replacing a file should not change who may read it. */
		mode = sb.st_mode & 0777;
	}
	return write_atomic(c, mode, fill, arg);
}
