/* idx.c - reading and writing IDX files, plain or gzipped (see idx.h).
 *
 * Reading goes through zlib's gz* functions for both kinds of file: a
 * file that does not start with the gzip magic is read as is ("transparent"
 * mode). Whether the file is compressed is decided from its first two
 * bytes, only to word the messages and to check the length of a plain
 * regular file before allocating anything.
 *
 * The data of a gzipped file is read in growing pieces, so a header that
 * claims a huge array costs memory only as far as the stream really goes.
 * After the data the reader asks for one more byte: that finds trailing
 * bytes, and for gzip makes zlib reach the end of the stream and check its
 * CRC and length (a stream cut short is an error, not a short read).
 * Limitation: data after the end of the last gzip member that does not
 * look like another gzip member is skipped by zlib and cannot be seen here.
 *
 * Library code: every failure is a dp_status with "<path>: <problem>" in
 * the caller's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "fileio.h"
#include "idx.h"

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
	       "float and double must be IEEE binary32 and binary64");
_Static_assert(DP_MAX_ELEMS <= (int64_t)(SIZE_MAX / 8),
	       "DP_MAX_ELEMS doubles must fit in size_t");
_Static_assert(DP_MAX_ELEMS * 8 <= (int64_t)INT64_MAX / 2,
	       "the largest IDX file size must fit in int64 with room");

#define HDR_MAX (4 + 4 * DP_IDX_MAX_NDIM)
/* Pieces of data read or converted at a time. */
#define CHUNK ((size_t)1 << 20)


size_t dp_idx_type_size(dp_idx_type t)
{
	switch (t) {
	case DP_IDX_U8: case DP_IDX_I8: return 1;
	case DP_IDX_I16: return 2;
	case DP_IDX_I32: case DP_IDX_F32: return 4;
	case DP_IDX_F64: return 8;
	}
	return 0;
}

const char *dp_idx_type_name(dp_idx_type t)
{
	switch (t) {
	case DP_IDX_U8: return "ubyte";
	case DP_IDX_I8: return "byte";
	case DP_IDX_I16: return "short";
	case DP_IDX_I32: return "int";
	case DP_IDX_F32: return "float";
	case DP_IDX_F64: return "double";
	}
	return NULL;
}

int64_t dp_idx_elems(const dp_idx *a)
{
	int64_t n = 1;

	if (!a || a->ndim < 1 || a->ndim > DP_IDX_MAX_NDIM)
		return -1;
	for (int i = 0; i < a->ndim; i++) {
		if (a->dims[i] < 1 || n > INT64_MAX / a->dims[i])
			return -1;
		n *= a->dims[i];
	}
	return n;
}

void dp_idx_free(dp_idx *a)
{
	if (!a)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

/* "28 x 28 x 60000"-style text of up to 4 sizes, for messages. */
static const char *dims_text(const int64_t *dims, int ndim, char *buf,
			     size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < ndim && len < cap; i++) {
		int n = snprintf(buf + len, cap - len, "%s%lld",
				 i ? " x " : "", (long long)dims[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* Byte order: IDX is big-endian; values are assembled byte by byte,   */
/* so the code does not depend on the host's order.                   */
/* ------------------------------------------------------------------ */

/* Big-endian bytes at src to host-order elements at dst (may alias). */
static void from_be(void *dst, const unsigned char *src, size_t n,
		    size_t size)
{
	unsigned char *d = dst;

	for (size_t i = 0; i < n; i++, src += size, d += size) {
		uint64_t v = 0;

		for (size_t k = 0; k < size; k++)
			v = v << 8 | src[k];
		if (size == 2) {
			uint16_t x = (uint16_t)v;
			memcpy(d, &x, 2);
		} else if (size == 4) {
			uint32_t x = (uint32_t)v;
			memcpy(d, &x, 4);
		} else if (size == 8) {
			memcpy(d, &v, 8);
		} else {
			d[0] = (unsigned char)v;
		}
	}
}

/* Host-order elements at src to big-endian bytes at dst. */
static void to_be(unsigned char *dst, const void *src, size_t n, size_t size)
{
	const unsigned char *s = src;

	for (size_t i = 0; i < n; i++, s += size, dst += size) {
		uint64_t v;

		if (size == 2) {
			uint16_t x;
			memcpy(&x, s, 2);
			v = x;
		} else if (size == 4) {
			uint32_t x;
			memcpy(&x, s, 4);
			v = x;
		} else if (size == 8) {
			memcpy(&v, s, 8);
		} else {
			v = s[0];
		}
		for (size_t k = size; k-- > 0; v >>= 8)
			dst[k] = (unsigned char)(v & 0xff);
	}
}

/* ------------------------------------------------------------------ */
/* Reader.                                                             */
/* ------------------------------------------------------------------ */

typedef struct reader {
	const dp_file_ctx *c;
	gzFile gz;
	int gzipped;        /* the file starts with the gzip magic */
	int64_t file_size;  /* plain regular files: their size; else -1 */
} reader;

/* Up to n bytes; returns the count read, or -1 after setting the error
 * message (an I/O error or a damaged gzip stream). A short count without
 * error means the end of the data. */
static long long get(reader *r, void *buf, size_t n, dp_status *st)
{
	size_t total = 0;

	while (total < n) {
		size_t want = n - total;
		int got, errnum;
		const char *zmsg;

		if (want > (size_t)1 << 30)
			want = (size_t)1 << 30;
		got = gzread(r->gz, (char *)buf + total, (unsigned)want);
		if (got > 0)
			total += (size_t)got;
		zmsg = gzerror(r->gz, &errnum);
		if (errnum == Z_ERRNO) {
			*st = dp_file_fail_io(r->c, "read failed", errno);
			return -1;
		}
		if (errnum == Z_BUF_ERROR) {
			*st = dp_file_fail(r->c, DP_ERR_FORMAT, "gzip stream is "
				   "truncated (the compressed data ends "
				   "before the end of the stream)");
			return -1;
		}
		if (errnum == Z_MEM_ERROR) {
			*st = dp_file_fail(r->c, DP_ERR_NOMEM, "out of memory in zlib");
			return -1;
		}
		if (errnum != Z_OK) {
			/* zlib prefixes its name for the file, "<fd:3>: ". */
			const char *tail = zmsg ? strstr(zmsg, ">: ") : NULL;

			*st = dp_file_fail(r->c, DP_ERR_FORMAT,
				   "damaged gzip stream: %s", tail ? tail + 3 :
				   zmsg ? zmsg : "unknown zlib error");
			return -1;
		}
		if (got <= 0)
			break;
	}
	return (long long)total;
}

/* The type byte is one of the six IDX types. */
static int valid_type(unsigned t)
{
	return dp_idx_type_size((dp_idx_type)t) != 0;
}

/* Magic, type, ndim and sizes; fills out->type, ndim, dims and returns
 * the header length in *hlen. */
static dp_status read_header(reader *r, dp_idx *out, size_t *hlen)
{
	const dp_file_ctx *c = r->c;
	const char *where = r->gzipped ? " (after gunzip)" : "";
	unsigned char b[HDR_MAX];
	dp_status st = DP_OK;
	long long got = get(r, b, 4, &st);
	int64_t n = 1;
	char dtext[96];
	int ndim;

	if (got < 0)
		return st;
	if (got == 0)
		return dp_file_fail(c, DP_ERR_FORMAT, "%s is empty, not an IDX file",
			    r->gzipped ? "decompressed data" : "file");
	if (b[0] != 0 || (got > 1 && b[1] != 0))
		return dp_file_fail(c, DP_ERR_FORMAT, "not an IDX file%s: bad magic "
			    "(the first two bytes are %02x %02x, need 00 00)",
			    where, b[0], got > 1 ? b[1] : 0u);
	if (got < 4)
		return dp_file_fail(c, DP_ERR_FORMAT, "file%s is too short (%lld "
			    "bytes) for an IDX header", where, got);
	if (!valid_type(b[2]))
		return dp_file_fail(c, DP_ERR_FORMAT, "unknown IDX type byte 0x%02x "
			    "(allowed: 08 ubyte, 09 byte, 0B short, 0C int, "
			    "0D float, 0E double)", b[2]);
	ndim = b[3];
	if (ndim < 1 || ndim > DP_IDX_MAX_NDIM)
		return dp_file_fail(c, DP_ERR_FORMAT, "%d dimensions are not supported "
			    "(allowed: 1 to %d)", ndim, DP_IDX_MAX_NDIM);
	got = get(r, b + 4, 4 * (size_t)ndim, &st);
	if (got < 0)
		return st;
	if (got < 4 * ndim)
		return dp_file_fail(c, DP_ERR_FORMAT, "file%s ends inside the "
			    "dimension sizes (%d dimensions need %d bytes, "
			    "%lld follow)", where, ndim, 4 * ndim, got);
	out->type = (dp_idx_type)b[2];
	out->ndim = ndim;
	for (int i = 0; i < ndim; i++) {
		const unsigned char *p = b + 4 + 4 * i;

		out->dims[i] = (int64_t)((uint32_t)p[0] << 24 |
					 (uint32_t)p[1] << 16 |
					 (uint32_t)p[2] << 8 | p[3]);
	}
	for (int i = 0; i < ndim; i++)
		if (out->dims[i] == 0)
			return dp_file_fail(c, DP_ERR_FORMAT, "dimension %d has size 0 "
				    "(empty arrays are not supported)", i);
	/* Each size is below 2^32 and n stays at most 2^28 while the loop
	 * runs, so nothing here can overflow. */
	for (int i = 0; i < ndim; i++) {
		if (out->dims[i] > DP_MAX_ELEMS / n)
			return dp_file_fail(c, DP_ERR_FORMAT, "dimensions %s hold more "
				    "than %lld elements (the DP_MAX_ELEMS "
				    "limit)", dims_text(out->dims, ndim,
				    dtext, sizeof dtext),
				    (long long)DP_MAX_ELEMS);
		n *= out->dims[i];
	}
	*hlen = 4 + 4 * (size_t)ndim;
	return DP_OK;
}

/* nbytes of data, then the end: in growing pieces, see the top. */
static dp_status read_data(reader *r, size_t hlen, size_t nbytes,
			   unsigned char **data)
{
	const dp_file_ctx *c = r->c;
	unsigned char *buf = NULL, extra;
	size_t have = 0, cap = 0;
	dp_status st = DP_OK;
	long long got;

	if (r->file_size >= 0) {
		int64_t want = (int64_t)(hlen + nbytes);

		if (r->file_size < want)
			return dp_file_fail(c, DP_ERR_FORMAT, "data is truncated: the "
				    "dimensions need %zu bytes of data but "
				    "only %lld follow the header", nbytes,
				    (long long)(r->file_size - (int64_t)hlen));
		if (r->file_size > want)
			return dp_file_fail(c, DP_ERR_FORMAT, "file has %lld trailing "
				    "byte%s after the %zu bytes of data",
				    (long long)(r->file_size - want),
				    r->file_size - want == 1 ? "" : "s",
				    nbytes);
	}
	while (have < nbytes) {
		size_t piece;

		if (have == cap) {
			size_t ncap = cap ? cap * 2 : CHUNK;
			unsigned char *nb;

			if (ncap > nbytes || r->file_size >= 0)
				ncap = nbytes;
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return dp_file_fail_nomem(c, ncap);
			}
			buf = nb;
			cap = ncap;
		}
		piece = cap - have;
		got = get(r, buf + have, piece, &st);
		if (got < 0) {
			free(buf);
			return st;
		}
		have += (size_t)got;
		if ((size_t)got < piece)
			break;
	}
	if (have < nbytes) {
		free(buf);
		return dp_file_fail(c, DP_ERR_FORMAT, "data is truncated: the "
			    "dimensions need %zu bytes of data but only %zu "
			    "follow the header%s", nbytes, have,
			    r->gzipped ? " in the decompressed stream" : "");
	}
	got = get(r, &extra, 1, &st);
	if (got != 0) {
		free(buf);
		if (got < 0)
			return st;
		return dp_file_fail(c, DP_ERR_FORMAT, "%s has trailing bytes after "
			    "the %zu bytes of data", r->gzipped ?
			    "decompressed stream" : "file", nbytes);
	}
	*data = buf;
	return DP_OK;
}

static dp_status read_idx(reader *r, dp_idx *out)
{
	size_t hlen = 0, size, n;
	unsigned char *data = NULL;
	dp_status st = read_header(r, out, &hlen);

	if (st != DP_OK)
		return st;
	size = dp_idx_type_size(out->type);
	n = (size_t)dp_idx_elems(out);
	st = read_data(r, hlen, n * size, &data);
	if (st != DP_OK)
		return st;
	from_be(data, data, n, size);
	out->data = data;
	return DP_OK;
}

dp_status dp_idx_read(const char *path, dp_idx *out, char *msg,
		      size_t msg_len)
{
	dp_file_ctx c = { path, msg, msg_len };
	unsigned char magic[2];
	struct stat sb;
	reader r;
	dp_status st;
	ssize_t got;
	int fd;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!out)
		return dp_file_fail(&c, DP_ERR_ARG, "no output array given");
	memset(out, 0, sizeof *out);
	if (!path)
		return dp_file_fail(&c, DP_ERR_ARG, "no path given");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dp_file_fail_io(&c, "cannot open for reading", errno);
	if (fstat(fd, &sb) != 0) {
		int err = errno;

		close(fd);
		return dp_file_fail_io(&c, "cannot stat", err);
	}
	if (S_ISDIR(sb.st_mode)) {
		close(fd);
		return dp_file_fail(&c, DP_ERR_IO, "is a directory, not an IDX file");
	}
	/* Peek at the magic; only regular files can be rewound. */
	r.gzipped = 0;
	r.file_size = -1;
	if (S_ISREG(sb.st_mode)) {
		got = pread(fd, magic, 2, 0);
		if (got < 0) {
			int err = errno;

			close(fd);
			return dp_file_fail_io(&c, "read failed", err);
		}
		r.gzipped = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
		if (!r.gzipped)
			r.file_size = (int64_t)sb.st_size;
	}
	r.c = &c;
	r.gz = gzdopen(fd, "rb");
	if (!r.gz) {
		close(fd);
		return dp_file_fail_nomem(&c, 0);
	}
	gzbuffer(r.gz, 128 * 1024);
	st = read_idx(&r, out);
	/* Closing a stream that was only read cannot lose data. */
	gzclose(r.gz);
	if (st != DP_OK)
		dp_idx_free(out);
	return st;
}

/* ------------------------------------------------------------------ */
/* Writer.                                                             */
/* ------------------------------------------------------------------ */

/* Reject what the reader would reject, so every file written here can
 * be read back. */
static dp_status check_array(const dp_file_ctx *c, const dp_idx *a)
{
	int64_t n;

	if (!a)
		return dp_file_fail(c, DP_ERR_ARG, "no array given");
	if (!dp_idx_type_name(a->type))
		return dp_file_fail(c, DP_ERR_ARG, "unknown IDX type %d", (int)a->type);
	if (a->ndim < 1 || a->ndim > DP_IDX_MAX_NDIM)
		return dp_file_fail(c, DP_ERR_ARG, "ndim %d is out of range (1..%d)",
			    a->ndim, DP_IDX_MAX_NDIM);
	for (int i = 0; i < a->ndim; i++)
		if (a->dims[i] < 1 || a->dims[i] > (int64_t)UINT32_MAX)
			return dp_file_fail(c, DP_ERR_ARG, "size %lld of dimension %d "
				    "is out of range (1..2^32-1)",
				    (long long)a->dims[i], i);
	n = dp_idx_elems(a);
	if (n < 0 || n > DP_MAX_ELEMS)
		return dp_file_fail(c, DP_ERR_ARG, "array has more than %lld elements "
			    "(the DP_MAX_ELEMS limit)",
			    (long long)DP_MAX_ELEMS);
	if (!a->data)
		return dp_file_fail(c, DP_ERR_ARG, "array has no data");
	return DP_OK;
}

/* Where the bytes go: a stdio stream or a gzip stream. */
typedef struct sink {
	FILE *fp;
	gzFile gz;
} sink;

static int put(sink *s, const void *p, size_t n)
{
	if (s->gz) {
		while (n > 0) {
			unsigned piece = n > (1u << 30) ? 1u << 30 : (unsigned)n;

			if (gzwrite(s->gz, p, piece) != (int)piece)
				return -1;
			p = (const char *)p + piece;
			n -= piece;
		}
		return 0;
	}
	return fwrite(p, 1, n, s->fp) == n ? 0 : -1;
}

/* Header and big-endian data. Returns 0 or -1. */
static int put_contents(sink *s, const dp_idx *a, unsigned char *tmp)
{
	size_t size = dp_idx_type_size(a->type);
	size_t n = (size_t)dp_idx_elems(a), per = CHUNK / size;
	const unsigned char *src = a->data;
	unsigned char hdr[HDR_MAX];

	hdr[0] = 0;
	hdr[1] = 0;
	hdr[2] = (unsigned char)a->type;
	hdr[3] = (unsigned char)a->ndim;
	for (int i = 0; i < a->ndim; i++)
		to_be(hdr + 4 + 4 * i, &(uint32_t){ (uint32_t)a->dims[i] },
		      1, 4);
	if (put(s, hdr, 4 + 4 * (size_t)a->ndim) != 0)
		return -1;
	for (size_t i = 0; i < n; i += per) {
		size_t m = n - i < per ? n - i : per;

		to_be(tmp, src + i * size, m, size);
		if (put(s, tmp, m * size) != 0)
			return -1;
	}
	return 0;
}

/* Write the whole file to fd and close fd. sync: fsync before closing
 * (regular files about to be renamed into place). */
struct idx_out {
	const dp_idx *a;
	int gz;
};

/* The whole file into fd (see dp_file_filler), gzipped when asked. */
static dp_status fill_fd(const dp_file_ctx *c, int fd, int sync, void *arg)
{
	const dp_idx *a = ((const struct idx_out *)arg)->a;
	const int gz = ((const struct idx_out *)arg)->gz;
	unsigned char *tmp = malloc(CHUNK);
	sink s = { NULL, NULL };
	int err = 0, zfd;

	if (!tmp) {
		close(fd);
		return dp_file_fail_nomem(c, CHUNK);
	}
	if (gz) {
		/* gzclose closes the descriptor it was given; a duplicate
		 * keeps fd open for the fsync after the trailer is out. */
		zfd = dup(fd);
		s.gz = zfd < 0 ? NULL : gzdopen(zfd, "wb");
		if (!s.gz) {
			err = zfd < 0 ? errno : ENOMEM;
			if (zfd >= 0)
				close(zfd);
			free(tmp);
			close(fd);
			return dp_file_fail_io(c, "cannot start the gzip stream", err);
		}
		if (put_contents(&s, a, tmp) != 0) {
			int errnum;
			const char *zmsg = gzerror(s.gz, &errnum);
			dp_status st = errnum == Z_ERRNO ?
				dp_file_fail_io(c, "write failed", errno) :
				dp_file_fail(c, DP_ERR_IO, "gzip write failed: %s",
				     zmsg);

			gzclose(s.gz);
			free(tmp);
			close(fd);
			return st;
		}
		free(tmp);
		/* gzclose flushes the last block and the trailer. */
		if (gzclose(s.gz) != Z_OK) {
			err = errno;
			close(fd);
			return dp_file_fail_io(c, "write failed", err ? err : EIO);
		}
		if (sync && fsync(fd) != 0) {
			err = errno;
			close(fd);
			return dp_file_fail_io(c, "write failed", err);
		}
		if (close(fd) != 0)
			return dp_file_fail_io(c, "write failed", errno);
		return DP_OK;
	}
	s.fp = fdopen(fd, "wb");
	if (!s.fp) {
		err = errno;
		free(tmp);
		close(fd);
		return dp_file_fail_io(c, "cannot open the output stream", err);
	}
	if (put_contents(&s, a, tmp) != 0 || fflush(s.fp) != 0 ||
	    (sync && fsync(fileno(s.fp)) != 0)) {
		err = errno;
		free(tmp);
		fclose(s.fp);
		return dp_file_fail_io(c, "write failed", err);
	}
	free(tmp);
	if (fclose(s.fp) != 0)
		return dp_file_fail_io(c, "write failed", errno);
	return DP_OK;
}

static int ends_with_gz(const char *path)
{
	size_t n = strlen(path);

	return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

dp_status dp_idx_write(const char *path, const dp_idx *a, char *msg,
		       size_t msg_len)
{
	dp_file_ctx c = { path, msg, msg_len };
	struct idx_out o;
	dp_status st;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!path)
		return dp_file_fail(&c, DP_ERR_ARG, "no path given");
	st = check_array(&c, a);
	if (st != DP_OK)
		return st;
	o.a = a;
	o.gz = ends_with_gz(path);
	return dp_file_write(&c, fill_fd, &o);
}

/* ------------------------------------------------------------------ */
/* Conversion.                                                         */
/* ------------------------------------------------------------------ */

dp_status dp_idx_to_array(const dp_idx *a, double scale, dp_array *out,
			  char *msg, size_t msg_len)
{
	dp_file_ctx c = { "IDX array", msg, msg_len };
	int64_t n;
	float *d;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!out)
		return dp_file_fail(&c, DP_ERR_ARG, "no output array given");
	memset(out, 0, sizeof *out);
	if (!a || !dp_idx_type_name(a->type) || !a->data)
		return dp_file_fail(&c, DP_ERR_ARG, "no array, an unknown type or no "
			    "data");
	n = dp_idx_elems(a);
	if (n < 0 || n > DP_MAX_ELEMS)
		return dp_file_fail(&c, DP_ERR_ARG, "bad dimensions");
	d = malloc((size_t)n * sizeof *d);
	if (!d)
		return dp_file_fail_nomem(&c, (size_t)n * sizeof *d);
	for (int64_t i = 0; i < n; i++) {
		double v;

		switch (a->type) {
		case DP_IDX_U8: v = ((const uint8_t *)a->data)[i]; break;
		case DP_IDX_I8: v = ((const int8_t *)a->data)[i]; break;
		case DP_IDX_I16: v = ((const int16_t *)a->data)[i]; break;
		case DP_IDX_I32: v = ((const int32_t *)a->data)[i]; break;
		case DP_IDX_F32: v = ((const float *)a->data)[i]; break;
		default: v = ((const double *)a->data)[i]; break;
		}
		d[i] = (float)(v * scale);
	}
	out->ndim = a->ndim;
	for (int i = 0; i < a->ndim; i++)
		out->shape[i] = a->dims[i];
	out->data = d;
	return DP_OK;
}
