/* idx.h - IDX files (the MNIST / Fashion-MNIST format), plain or gzipped.
 *
 * Layout of an IDX file: two zero bytes, a type byte, the number of
 * dimensions, one 4-byte big-endian size per dimension, then the elements
 * in C order (last dimension fastest), each big-endian. Type bytes:
 *   0x08 unsigned byte   0x09 signed byte   0x0B int16
 *   0x0C int32           0x0D float32       0x0E float64
 * The reader accepts the file itself or its gzip compression (recognized by
 * the gzip magic 1f 8b, not by the name), checks every header field and
 * the exact length of the data, and hands the elements back in host byte
 * order. Limits: 1..DP_IDX_MAX_NDIM dimensions, each size at least 1,
 * at most DP_MAX_ELEMS elements in all (the library-wide tensor limit).
 *
 * Every function returns a dp_status; on failure msg receives one line
 * "<path>: <problem>". Nothing is printed, nothing exits.
 */
#ifndef DP_IDX_H
#define DP_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "dpgen.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MNIST needs 3 (images) and 1 (labels); 4 leaves room for N x C x H x W. */
#define DP_IDX_MAX_NDIM 4

typedef enum dp_idx_type {
	DP_IDX_U8 = 0x08,   /* uint8_t  */
	DP_IDX_I8 = 0x09,   /* int8_t   */
	DP_IDX_I16 = 0x0B,  /* int16_t  */
	DP_IDX_I32 = 0x0C,  /* int32_t  */
	DP_IDX_F32 = 0x0D,  /* float    */
	DP_IDX_F64 = 0x0E   /* double   */
} dp_idx_type;

typedef struct dp_idx {
	dp_idx_type type;
	int ndim;                       /* 1..DP_IDX_MAX_NDIM */
	int64_t dims[DP_IDX_MAX_NDIM];  /* sizes; unused entries are 0 */
	void *data;  /* malloc'd, C order, host byte order, elements of the
	              * C type named above; free with dp_idx_free */
} dp_idx;

/* Bytes per element of a type, 0 for a value that is not an IDX type. */
size_t dp_idx_type_size(dp_idx_type t);
/* "ubyte", "byte", "short", "int", "float", "double"; NULL if unknown. */
const char *dp_idx_type_name(dp_idx_type t);
/* Product of the sizes; -1 for NULL, a bad ndim or a size below 1. */
int64_t dp_idx_elems(const dp_idx *a);

/* Read an IDX file, gzipped or not. On failure *out is empty. */
dp_status dp_idx_read(const char *path, dp_idx *out, char *msg,
                      size_t msg_len);
/* Write atomically (a temporary file next to path, then rename), gzip
 * compressed if path ends in ".gz", plain otherwise. An existing file
 * keeps its permission bits; a new one gets 0644. */
dp_status dp_idx_write(const char *path, const dp_idx *a, char *msg,
                       size_t msg_len);
void dp_idx_free(dp_idx *a);

/* The elements of a as a float32 dp_array of the same shape, each value
 * multiplied by scale in double, then rounded to float (1.0 / 255 turns
 * MNIST pixels into [0, 1]). */
dp_status dp_idx_to_array(const dp_idx *a, double scale, dp_array *out,
                          char *msg, size_t msg_len);

#ifdef __cplusplus
}
#endif
#endif
