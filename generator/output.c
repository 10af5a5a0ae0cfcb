/* output.c - all-or-nothing output: temporary files, then rename. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

static int write_temp(const char *dir, const out_file *f, char *tmp,
                      size_t tmp_len, char *err, size_t err_len)
{
	snprintf(tmp, tmp_len, "%s/.%s.XXXXXX", dir, f->name);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, err_len, "cannot write into output directory "
		         "'%s': %s", dir, strerror(errno));
		tmp[0] = '\0';
		return -1;
	}
	/* mkstemp makes the file 0600; generated sources are ordinary files. */
	fchmod(fd, 0644);
	FILE *fp = fdopen(fd, "w");
	if (!fp) {
		close(fd);
		snprintf(err, err_len, "cannot write '%s': %s", tmp,
		         strerror(errno));
		return -1;
	}
	size_t len = strlen(f->content);
	int bad = fwrite(f->content, 1, len, fp) != len;
	bad |= fflush(fp) != 0;
	int saved = errno;
	bad |= fclose(fp) != 0;
	if (bad) {
		snprintf(err, err_len, "cannot write '%s/%s': %s", dir, f->name,
		         strerror(saved ? saved : errno));
		return -1;
	}
	return 0;
}

int write_files(const char *dir, const out_file *files, int count,
                char *err, size_t err_len)
{
	typedef char path_buf[4096];
	path_buf *tmp = calloc(count > 0 ? (size_t)count : 1, sizeof *tmp);
	char final[4096];
	int made = 0, rc = -1;
	struct stat st;
	if (!tmp) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "output directory '%s' %s", dir,
		         stat(dir, &st) != 0 ? "does not exist" :
		         "is not a directory");
		free(tmp);
		return -1;
	}
	for (; made < count; made++)
		if (write_temp(dir, &files[made], tmp[made], sizeof tmp[made],
		               err, err_len)) {
			if (tmp[made][0])
				unlink(tmp[made]);
			goto cleanup;
		}
	for (int i = 0; i < count; i++) {
		snprintf(final, sizeof final, "%s/%s", dir, files[i].name);
		if (rename(tmp[i], final) != 0) {
			snprintf(err, err_len, "cannot create '%s': %s", final,
			         strerror(errno));
			/* Files renamed already stay: they are complete. */
			goto cleanup;
		}
		tmp[i][0] = '\0';
	}
	rc = 0;
cleanup:
	for (int i = 0; i < made; i++)
		if (tmp[i][0])
			unlink(tmp[i]);
	free(tmp);
	return rc;
}
