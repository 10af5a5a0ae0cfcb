/* output.h - write generated files atomically. */
#ifndef DP_OUTPUT_H
#define DP_OUTPUT_H

#include <stddef.h>

typedef struct out_file {
	const char *name;      /* file name inside the directory */
	const char *content;
} out_file;

/* Write every file into dir, all or nothing: each goes to a temporary
 * file first; only when all are written are they renamed into place.
 * On failure nothing new is left behind and err says why. */
int write_files(const char *dir, const out_file *files, int count,
                char *err, size_t err_len);

#endif
