/* t_idx.c - tests of the IDX reader and writer (runtime/idx.c) and of the
 * PNG grayscale reader (runtime/png_gray.c).
 *
 * Every file is made here, in a mkdtemp directory removed at the end: no
 * network, no data/. Files the reader is tested on are built byte by byte
 * (gzipped with zlib's gzopen where needed), not with the writer, so a bug
 * shared by both cannot hide itself; the writer is checked against exact
 * expected bytes, then by round trips.
 */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <dirent.h>

#include "dpgen.h"
#include "idx.h"
#include "png_gray.h"
#include "tap.h"
#include "util.h"

#define MSG_LEN 1024

static char tmpdir[256];

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* ---- raw files ---- */

typedef struct bytes {
	unsigned char b[4096];
	size_t n;
} bytes;

static void put(bytes *x, const void *p, size_t n)
{
	if (x->n + n > sizeof x->b) {
		diag("test bug: byte buffer overflow");
		exit(2);
	}
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void put_u8(bytes *x, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(x, &c, 1);
}

static void put_be32(bytes *x, uint32_t v)
{
	unsigned char c[4] = { (unsigned char)(v >> 24),
			       (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	put(x, c, 4);
}

/* Magic, type, ndim, sizes. */
static void put_header(bytes *x, unsigned type, int ndim,
		       const uint32_t *dims)
{
	put_u8(x, 0);
	put_u8(x, 0);
	put_u8(x, type);
	put_u8(x, (unsigned)ndim);
	for (int i = 0; i < ndim; i++)
		put_be32(x, dims[i]);
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		diag("test bug: cannot write %s", path);
		exit(2);
	}
}

static void write_gz(const char *path, const void *p, size_t n)
{
	gzFile gz = gzopen(path, "wb");

	if (!gz || (n && gzwrite(gz, p, (unsigned)n) != (int)n) ||
	    gzclose(gz) != Z_OK) {
		diag("test bug: cannot write %s", path);
		exit(2);
	}
}

/* ---- expected failures ---- */

/* Read path, expect status want with a message that names the file and
 * contains every keyword; the output must be left empty. */
static void expect_fail(const char *name, dp_status want, const char *kw1,
			const char *kw2, const char *what)
{
	char path[512], msg[MSG_LEN];
	dp_idx a;
	dp_status st;

	path_in(path, sizeof path, name);
	memset(&a, 0x5a, sizeof a);
	st = dp_idx_read(path, &a, msg, sizeof msg);
	if (!ok(st == want && strstr(msg, path) && strchr(msg, '\n') == NULL &&
		(!kw1 || strstr(msg, kw1)) && (!kw2 || strstr(msg, kw2)) &&
		a.data == NULL && a.ndim == 0,
		"%s: status %s, one line naming the file", what,
		dp_status_str(want)))
		diag("status %d, wanted %d", (int)st, (int)want);
	diag("  %s", msg);
	dp_idx_free(&a);
}

static void bad_raw(const char *name, const bytes *x, int gz, dp_status want,
		    const char *kw1, const char *kw2, const char *what)
{
	char path[512];

	path_in(path, sizeof path, name);
	if (gz)
		write_gz(path, x->b, x->n);
	else
		write_raw(path, x->b, x->n);
	expect_fail(name, want, kw1, kw2, what);
}

/* ---- round trips ---- */

static const dp_idx_type all_types[] = {
	DP_IDX_U8, DP_IDX_I8, DP_IDX_I16, DP_IDX_I32, DP_IDX_F32, DP_IDX_F64
};

/* Values that use the whole range of each type, sign bits included. */
static void fill_values(dp_idx_type t, void *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t k = (int64_t)(i * 2654435761u % 65521u) - 32760;

		switch (t) {
		case DP_IDX_U8: ((uint8_t *)data)[i] = (uint8_t)(k & 0xff); break;
		case DP_IDX_I8: ((int8_t *)data)[i] = (int8_t)(k % 128); break;
		case DP_IDX_I16: ((int16_t *)data)[i] = (int16_t)k; break;
		case DP_IDX_I32:
			((int32_t *)data)[i] = (int32_t)(k * 65599); break;
		case DP_IDX_F32:
			((float *)data)[i] = (float)k / 7.0f; break;
		case DP_IDX_F64:
			((double *)data)[i] = (double)k / 7.0e5; break;
		}
	}
}

static int same(const dp_idx *a, const dp_idx *b)
{
	int64_t n = dp_idx_elems(a);

	if (a->type != b->type || a->ndim != b->ndim || n != dp_idx_elems(b))
		return 0;
	for (int i = 0; i < a->ndim; i++)
		if (a->dims[i] != b->dims[i])
			return 0;
	return memcmp(a->data, b->data,
		      (size_t)n * dp_idx_type_size(a->type)) == 0;
}

static void test_round_trips(void)
{
	static const int64_t dims[DP_IDX_MAX_NDIM] = { 3, 2, 4, 5 };
	char path[512], msg[MSG_LEN];

	for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
		for (int ndim = 1; ndim <= DP_IDX_MAX_NDIM; ndim++) {
			for (int gz = 0; gz < 2; gz++) {
				dp_idx a, b;
				dp_status st;
				size_t n = 1;

				memset(&a, 0, sizeof a);
				a.type = all_types[t];
				a.ndim = ndim;
				for (int i = 0; i < ndim; i++) {
					a.dims[i] = dims[i];
					n *= (size_t)dims[i];
				}
				a.data = malloc(n * dp_idx_type_size(a.type));
				fill_values(a.type, a.data, n);
				snprintf(path, sizeof path, "%s/rt-%s-%d.idx%s",
					 tmpdir, dp_idx_type_name(a.type),
					 ndim, gz ? ".gz" : "");
				st = dp_idx_write(path, &a, msg, sizeof msg);
				if (st == DP_OK)
					st = dp_idx_read(path, &b, msg,
							 sizeof msg);
				else
					memset(&b, 0, sizeof b);
				if (!ok(st == DP_OK && same(&a, &b),
					"round trip %s %d-D %s",
					dp_idx_type_name(a.type), ndim,
					gz ? "gzipped" : "plain"))
					diag("%s", msg);
				free(a.data);
				dp_idx_free(&b);
			}
		}
	}
}

/* ---- exact bytes ---- */

static void test_writer_bytes(void)
{
	static const unsigned char want_u8[] = {
		0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 250, 251, 255
	};
	static const unsigned char want_f32[] = {
		0, 0, 0x0D, 1, 0, 0, 0, 2,
		0x3f, 0x80, 0x00, 0x00, 0xc0, 0x49, 0x0f, 0xdb
	};
	unsigned char u8[6] = { 1, 2, 3, 250, 251, 255 };
	float f32[2] = { 1.0f, -3.14159274f };
	char path[512], msg[MSG_LEN];
	dp_idx a;
	size_t len = 0;
	char *got;
	gzFile gz;
	unsigned char buf[64];
	int n;

	memset(&a, 0, sizeof a);
	a.type = DP_IDX_U8;
	a.ndim = 2;
	a.dims[0] = 2;
	a.dims[1] = 3;
	a.data = u8;
	path_in(path, sizeof path, "bytes-u8.idx");
	dp_idx_write(path, &a, msg, sizeof msg);
	got = slurp(path, &len);
	ok(got && len == sizeof want_u8 && !memcmp(got, want_u8, len),
	   "writer: ubyte 2 x 3 file is exactly the expected 18 bytes");
	free(got);

	a.type = DP_IDX_F32;
	a.ndim = 1;
	a.dims[0] = 2;
	a.data = f32;
	path_in(path, sizeof path, "bytes-f32.idx");
	dp_idx_write(path, &a, msg, sizeof msg);
	got = slurp(path, &len);
	ok(got && len == sizeof want_f32 && !memcmp(got, want_f32, len),
	   "writer: float values are big-endian IEEE (1.0 = 3f800000)");
	free(got);

	path_in(path, sizeof path, "bytes-f32.idx.gz");
	dp_idx_write(path, &a, msg, sizeof msg);
	got = slurp(path, &len);
	ok(got && len > 2 && (unsigned char)got[0] == 0x1f &&
	   (unsigned char)got[1] == 0x8b,
	   "writer: a path ending in .gz gets a gzip file");
	free(got);
	gz = gzopen(path, "rb");
	n = gz ? gzread(gz, buf, sizeof buf) : -1;
	if (gz)
		gzclose(gz);
	ok(n == (int)sizeof want_f32 && !memcmp(buf, want_f32, sizeof want_f32),
	   "writer: zlib's gunzip of it gives exactly the plain bytes");
}

/* Reader on hand-made files with known values. */
static void test_reader_values(void)
{
	static const uint32_t d2[] = { 2 }, d3[] = { 3 };
	char path[512], msg[MSG_LEN];
	bytes x = { .n = 0 };
	dp_idx a;
	dp_array f;
	dp_status st;

	put_header(&x, 0x0B, 1, d3);
	put(&x, "\x01\x02\xff\xfe\x80\x00", 6);
	path_in(path, sizeof path, "short.idx");
	write_raw(path, x.b, x.n);
	st = dp_idx_read(path, &a, msg, sizeof msg);
	ok(st == DP_OK && a.type == DP_IDX_I16 && a.ndim == 1 &&
	   a.dims[0] == 3 && ((int16_t *)a.data)[0] == 258 &&
	   ((int16_t *)a.data)[1] == -2 && ((int16_t *)a.data)[2] == -32768,
	   "reader: big-endian int16 0102 fffe 8000 = 258, -2, -32768");
	st = dp_idx_to_array(&a, 0.5, &f, msg, sizeof msg);
	ok(st == DP_OK && f.ndim == 1 && f.shape[0] == 3 &&
	   f.data[0] == 129.0f && f.data[1] == -1.0f && f.data[2] == -16384.0f,
	   "dp_idx_to_array: int16 times 0.5 as float");
	dp_array_free(&f);
	dp_idx_free(&a);

	x.n = 0;
	put_header(&x, 0x0D, 1, d2);
	put(&x, "\x3f\x80\x00\x00\xc0\x00\x00\x00", 8);
	path_in(path, sizeof path, "float-named.gz");
	write_raw(path, x.b, x.n);
	st = dp_idx_read(path, &a, msg, sizeof msg);
	ok(st == DP_OK && a.type == DP_IDX_F32 &&
	   ((float *)a.data)[0] == 1.0f && ((float *)a.data)[1] == -2.0f,
	   "reader: a plain file named .gz is read as plain (by magic)");
	dp_idx_free(&a);
	path_in(path, sizeof path, "float-gzipped.idx");
	write_gz(path, x.b, x.n);
	st = dp_idx_read(path, &a, msg, sizeof msg);
	ok(st == DP_OK && a.type == DP_IDX_F32 && a.dims[0] == 2 &&
	   ((float *)a.data)[0] == 1.0f && ((float *)a.data)[1] == -2.0f,
	   "reader: a gzip file without .gz is gunzipped (by magic)");
	dp_idx_free(&a);

	x.n = 0;
	put_header(&x, 0x08, 1, d3);
	put(&x, "\x00\x80\xff", 3);
	path_in(path, sizeof path, "u8.idx");
	write_raw(path, x.b, x.n);
	st = dp_idx_read(path, &a, msg, sizeof msg);
	if (st == DP_OK)
		st = dp_idx_to_array(&a, 1.0 / 255, &f, msg, sizeof msg);
	ok(st == DP_OK && f.data[0] == 0.0f && f.data[2] == 1.0f &&
	   fabsf(f.data[1] - 128.0f / 255.0f) < 1e-7f,
	   "dp_idx_to_array: ubyte pixels / 255 in [0, 1]");
	dp_array_free(&f);
	dp_idx_free(&a);

	/* A second gzip member after the first is part of the stream. */
	{
		gzFile gz;

		path_in(path, sizeof path, "two-members.idx.gz");
		write_gz(path, x.b, 6);
		gz = gzopen(path, "ab");
		gzwrite(gz, x.b + 6, (unsigned)(x.n - 6));
		gzclose(gz);
		st = dp_idx_read(path, &a, msg, sizeof msg);
		ok(st == DP_OK && a.dims[0] == 3 &&
		   ((uint8_t *)a.data)[2] == 255,
		   "reader: concatenated gzip members are one stream");
		dp_idx_free(&a);
	}
}

/* ---- damaged files ---- */

static void test_damaged(void)
{
	static const uint32_t d23[] = { 2, 3 }, d1[] = { 1 };
	static const uint32_t big4[] = { 0xffffffffu, 0xffffffffu,
					 0xffffffffu, 0xffffffffu };
	static const uint32_t just_over[] = { 16384, 16385 };
	static const uint32_t at_limit[] = { 16384, 16384 };
	static const uint32_t zero[] = { 2, 0 };
	char path[512], gzpath[512];
	bytes x = { .n = 0 }, good = { .n = 0 };
	char *full;
	size_t len = 0;

	put_header(&good, 0x08, 2, d23);
	put(&good, "\x01\x02\x03\x04\x05\x06", 6);

	x.n = 0;
	put(&x, "\x01\x00\x08\x01\x00\x00\x00\x01\x07", 9);
	bad_raw("magic1.idx", &x, 0, DP_ERR_FORMAT, "magic", "01 00",
		"bad magic (first byte 01)");
	x.n = 0;
	put(&x, "\x00\x01\x08\x01\x00\x00\x00\x01\x07", 9);
	bad_raw("magic2.idx", &x, 0, DP_ERR_FORMAT, "magic", "00 01",
		"bad magic (second byte 01)");
	x.n = 0;
	put(&x, "P5\n2 2\n255\n\x01\x02\x03\x04", 15);
	bad_raw("picture.pgm", &x, 0, DP_ERR_FORMAT, "not an IDX file", NULL,
		"another format (PGM)");

	x.n = 0;
	put_header(&x, 0x0A, 1, d1);
	put_u8(&x, 7);
	bad_raw("type0a.idx", &x, 0, DP_ERR_FORMAT, "type byte 0x0a", NULL,
		"type byte 0x0A (unassigned)");
	x.n = 0;
	put_header(&x, 0x07, 1, d1);
	put_u8(&x, 7);
	bad_raw("type07.idx", &x, 0, DP_ERR_FORMAT, "type byte 0x07", NULL,
		"type byte 0x07 (below ubyte)");
	x.n = 0;
	put_header(&x, 0x0F, 1, d1);
	put_u8(&x, 7);
	bad_raw("type0f.idx", &x, 0, DP_ERR_FORMAT, "type byte 0x0f", NULL,
		"type byte 0x0F (above double)");

	x.n = 0;
	put_header(&x, 0x08, 0, NULL);
	put_u8(&x, 7);
	bad_raw("ndim0.idx", &x, 0, DP_ERR_FORMAT, "0 dimensions", "1 to 4",
		"ndim 0");
	x.n = 0;
	put(&x, "\x00\x00\x08\x05", 4);
	for (int i = 0; i < 5; i++)
		put_be32(&x, 1);
	put_u8(&x, 7);
	bad_raw("ndim5.idx", &x, 0, DP_ERR_FORMAT, "5 dimensions", "1 to 4",
		"ndim 5 (the limit is 4)");
	x.n = 0;
	put(&x, "\x00\x00\x08\xff", 4);
	bad_raw("ndim255.idx", &x, 0, DP_ERR_FORMAT, "255 dimensions", NULL,
		"ndim 255");

	x.n = 0;
	put_header(&x, 0x08, 2, zero);
	bad_raw("dimzero.idx", &x, 0, DP_ERR_FORMAT, "dimension 1 has size 0",
		NULL, "a size of 0");
	x.n = 0;
	put_header(&x, 0x0E, 4, big4);
	put_u8(&x, 7);
	bad_raw("overflow.idx", &x, 0, DP_ERR_FORMAT, "DP_MAX_ELEMS",
		"4294967295 x 4294967295", "sizes whose product overflows "
		"int64 (4 x 2^32-1)");
	x.n = 0;
	put_header(&x, 0x08, 2, just_over);
	bad_raw("overlimit.idx", &x, 0, DP_ERR_FORMAT, "DP_MAX_ELEMS",
		"16384 x 16385", "2^28 + 2^14 elements: over DP_MAX_ELEMS");
	/* Exactly at the limit the header is fine and the reader goes on to
	 * the data, which is missing: the length check catches it before
	 * anything is allocated. */
	x.n = 0;
	put_header(&x, 0x08, 2, at_limit);
	bad_raw("atlimit.idx", &x, 0, DP_ERR_FORMAT, "truncated",
		"268435456 bytes", "2^28 elements, no data: truncated");
	bad_raw("atlimit.idx.gz", &x, 1, DP_ERR_FORMAT, "truncated",
		"decompressed", "the same gzipped (no big allocation)");

	x.n = 0;
	put(&x, "\x00\x00\x08", 3);
	bad_raw("short3.idx", &x, 0, DP_ERR_FORMAT, "too short", NULL,
		"3-byte file");
	x.n = 0;
	put(&x, "\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", 10);
	bad_raw("shortdims.idx", &x, 0, DP_ERR_FORMAT,
		"ends inside the dimension sizes", NULL,
		"file ends inside the sizes");

	x = good;
	x.n -= 1;
	bad_raw("trunc.idx", &x, 0, DP_ERR_FORMAT, "truncated",
		"6 bytes of data but only 5", "data one byte short");
	x.n = 12;
	bad_raw("nodata.idx", &x, 0, DP_ERR_FORMAT, "truncated", NULL,
		"header only, no data");
	x = good;
	put_u8(&x, 0);
	bad_raw("trail.idx", &x, 0, DP_ERR_FORMAT, "1 trailing byte ", NULL,
		"one trailing byte");
	x = good;
	put(&x, "\n\n\n\n", 4);
	bad_raw("trail4.idx", &x, 0, DP_ERR_FORMAT, "4 trailing bytes", NULL,
		"four trailing bytes");

	x = good;
	x.n -= 2;
	bad_raw("gz-shortdata.idx.gz", &x, 1, DP_ERR_FORMAT, "truncated",
		"decompressed", "gzip: complete stream, data short");
	x = good;
	put_u8(&x, 9);
	bad_raw("gz-trail.idx.gz", &x, 1, DP_ERR_FORMAT, "trailing",
		"decompressed", "gzip: decompressed data too long");
	x.n = 0;
	bad_raw("gz-empty.idx.gz", &x, 1, DP_ERR_FORMAT, "empty", NULL,
		"gzip of nothing");
	x.n = 0;
	put(&x, "\x01\x00\x08\x01\x00\x00\x00\x01\x07", 9);
	bad_raw("gz-magic.idx.gz", &x, 1, DP_ERR_FORMAT, "magic",
		"after gunzip", "gzip: bad IDX magic inside");

	/* A gzip file cut short: made with the writer's compression of a
	 * file large enough to span several deflate blocks. */
	{
		uint32_t dims[1] = { 3000 };
		bytes big = { .n = 0 };

		put_header(&big, 0x08, 1, dims);
		for (int i = 0; i < 3000 && big.n < sizeof big.b; i++)
			put_u8(&big, (unsigned)(i * 7919u >> 3));
		path_in(gzpath, sizeof gzpath, "gz-full.idx.gz");
		write_gz(gzpath, big.b, big.n);
		full = slurp(gzpath, &len);
		if (!full || len < 40) {
			diag("test bug: cannot make the gzip file");
			exit(2);
		}
		path_in(path, sizeof path, "gz-cut.idx.gz");
		write_raw(path, full, len / 2);
		expect_fail("gz-cut.idx.gz", DP_ERR_FORMAT, "gzip stream is "
			    "truncated", NULL, "gzip stream cut in half");
		path_in(path, sizeof path, "gz-notrailer.idx.gz");
		write_raw(path, full, len - 4);
		expect_fail("gz-notrailer.idx.gz", DP_ERR_FORMAT, "truncated",
			    NULL, "gzip stream without its length trailer");
		path_in(path, sizeof path, "gz-hdronly.idx.gz");
		write_raw(path, full, 10);
		expect_fail("gz-hdronly.idx.gz", DP_ERR_FORMAT, "truncated",
			    NULL, "gzip header only");
		/* Flip a bit of the stored CRC. */
		full[len - 8] ^= 0x01;
		path_in(path, sizeof path, "gz-crc.idx.gz");
		write_raw(path, full, len);
		expect_fail("gz-crc.idx.gz", DP_ERR_FORMAT, "damaged gzip",
			    "incorrect data check", "gzip stream with a wrong CRC");
		free(full);
	}

	x.n = 0;
	bad_raw("empty.idx", &x, 0, DP_ERR_FORMAT, "empty", NULL,
		"empty file");
	expect_fail("missing.idx", DP_ERR_IO, "cannot open",
		    strerror(ENOENT), "missing file");
	{
		char dir[512];

		path_in(dir, sizeof dir, "adir.idx");
		mkdir(dir, 0755);
		expect_fail("adir.idx", DP_ERR_IO, "directory", NULL,
			    "a directory");
	}
}

/* ---- writer failures and atomicity ---- */

static void test_writer(void)
{
	char path[600], dir[512], msg[MSG_LEN];
	unsigned char v[4] = { 9, 8, 7, 6 };
	dp_idx a, b;
	dp_status st;
	struct stat sb;

	memset(&a, 0, sizeof a);
	a.type = DP_IDX_U8;
	a.ndim = 1;
	a.dims[0] = 4;
	a.data = v;
	path_in(path, sizeof path, "w.idx");

	a.ndim = 0;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, path) && strstr(msg, "ndim 0"),
	   "writer: ndim 0 is DP_ERR_ARG");
	a.ndim = 5;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "ndim 5"),
	   "writer: ndim 5 is DP_ERR_ARG");
	a.ndim = 1;
	a.type = (dp_idx_type)0x0A;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "type"),
	   "writer: unknown type is DP_ERR_ARG");
	a.type = DP_IDX_U8;
	a.dims[0] = 0;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "size 0"),
	   "writer: a size of 0 is DP_ERR_ARG");
	a.dims[0] = (int64_t)1 << 32;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "out of range"),
	   "writer: a size of 2^32 does not fit the format");
	a.ndim = 2;
	a.dims[0] = 1 << 15;
	a.dims[1] = 1 << 14;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "DP_MAX_ELEMS"),
	   "writer: 2^29 elements is over DP_MAX_ELEMS");
	a.ndim = 1;
	a.dims[0] = 4;
	a.data = NULL;
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, "no data"),
	   "writer: NULL data is DP_ERR_ARG");
	a.data = v;
	ok(!file_exists(path), "writer: rejected arrays leave no file");

	path_in(dir, sizeof dir, "no-such-dir");
	snprintf(path, sizeof path, "%s/w.idx", dir);
	st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_IO && strstr(msg, path) && strstr(msg, strerror(ENOENT)),
	   "writer: missing directory is DP_ERR_IO naming the path");
	diag("  %s", msg);
	st = dp_idx_write(tmpdir, &a, msg, sizeof msg);
	ok(st == DP_ERR_IO && strstr(msg, "directory"),
	   "writer: a directory as the path is DP_ERR_IO");

	/* Overwrite keeps the mode and replaces the content. */
	path_in(path, sizeof path, "w.idx");
	st = dp_idx_write(path, &a, msg, sizeof msg);
	chmod(path, 0600);
	v[0] = 42;
	if (st == DP_OK)
		st = dp_idx_write(path, &a, msg, sizeof msg);
	ok(st == DP_OK && stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	   "writer: replacing a file keeps its mode (0600)");
	st = dp_idx_read(path, &b, msg, sizeof msg);
	ok(st == DP_OK && ((unsigned char *)b.data)[0] == 42,
	   "writer: the new content replaced the old");
	dp_idx_free(&b);
	path_in(path, sizeof path, "w-new.idx");
	dp_idx_write(path, &a, msg, sizeof msg);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644,
	   "writer: a new file gets mode 0644");
	ok(dir_entries_like(tmpdir, ".tmp") == 0, "writer: no temporary files left behind");

	/* /dev/null is not regular: written in place, not replaced. */
	st = dp_idx_write("/dev/null", &a, msg, sizeof msg);
	ok(st == DP_OK && stat("/dev/null", &sb) == 0 &&
	   S_ISCHR(sb.st_mode), "writer: /dev/null is written in place");

	st = dp_idx_read(NULL, &b, msg, sizeof msg);
	ok(st == DP_ERR_ARG, "reader: NULL path is DP_ERR_ARG");
	st = dp_idx_read(path, NULL, msg, sizeof msg);
	ok(st == DP_ERR_ARG, "reader: NULL output is DP_ERR_ARG");
	ok(dp_idx_type_size(DP_IDX_F64) == 8 &&
	   dp_idx_type_size((dp_idx_type)0x0A) == 0 &&
	   dp_idx_type_name((dp_idx_type)0x0A) == NULL,
	   "type sizes and names");
}

/* ---- PNG ---- */

/* Write a PNG with libpng: rows of w pixels, color type and depth as
 * given, palette optional. Returns 0 on success. */
static int write_png(const char *path, int w, int h, int color, int depth,
		     const unsigned char *pix, const png_color *pal,
		     int npal)
{
	FILE *fp = fopen(path, "wb");
	png_structp png;
	png_infop info;
	size_t rowbytes;
	int channels;

	if (!fp)
		return -1;
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL,
				      NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		fclose(fp);
		return -1;
	}
	channels = color == PNG_COLOR_TYPE_RGB ? 3 :
		color == PNG_COLOR_TYPE_RGB_ALPHA ? 4 :
		color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
	rowbytes = (size_t)w * (size_t)channels * (size_t)(depth / 8);
	png_init_io(png, fp);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	if (pal)
		png_set_PLTE(png, info, pal, npal);
	png_write_info(png, info);
	for (int y = 0; y < h; y++)
		png_write_row(png, pix + (size_t)y * rowbytes);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return fclose(fp) == 0 ? 0 : -1;
}

static double luma(double r, double g, double b, double maxval)
{
	/* The documented formula, written independently of the reader. */
	return (299.0 * r + 587.0 * g + 114.0 * b) / (1000.0 * maxval);
}

static int close_to(const float *got, const double *want, int n)
{
	for (int i = 0; i < n; i++)
		if (fabs(got[i] - want[i]) > 1e-6) {
			diag("pixel %d: got %.9g want %.9g", i, got[i],
			     want[i]);
			return 0;
		}
	return 1;
}

static void test_png(void)
{
	/* 2 rows x 3 columns, RGB 8-bit. */
	static const unsigned char rgb[2 * 3 * 3] = {
		255, 0, 0,     0, 255, 0,     0, 0, 255,
		255, 255, 255, 0, 0, 0,       10, 200, 30
	};
	static const unsigned char gray16[2 * 2 * 2] = {
		0x00, 0x00, 0xff, 0xff, 0x80, 0x00, 0x12, 0x34
	};
	static const unsigned char rgba[1 * 2 * 4] = {
		100, 150, 200, 0,   100, 150, 200, 255
	};
	static const png_color pal[3] = { { 255, 0, 0 }, { 1, 2, 3 },
					  { 40, 50, 60 } };
	static const unsigned char pidx[3] = { 2, 0, 1 };
	char path[512], msg[MSG_LEN];
	double want[6];
	dp_array a;
	dp_status st;
	char *full;
	size_t len = 0;

	path_in(path, sizeof path, "rgb.png");
	write_png(path, 3, 2, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	for (int i = 0; i < 6; i++)
		want[i] = luma(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255);
	ok(st == DP_OK && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
	   close_to(a.data, want, 6),
	   "png: 2 x 3 RGB read as BT.601 luma / 255, row-major");
	ok(st == DP_OK && fabsf(a.data[0] - 0.299f) < 1e-7f &&
	   fabsf(a.data[1] - 0.587f) < 1e-7f &&
	   fabsf(a.data[2] - 0.114f) < 1e-7f && fabsf(a.data[3] - 1) < 1e-7f &&
	   a.data[4] == 0.0f,
	   "png: red 0.299, green 0.587, blue 0.114, white 1, black 0");
	if (st != DP_OK)
		diag("%s", msg);
	dp_array_free(&a);

	path_in(path, sizeof path, "gray16.png");
	write_png(path, 2, 2, PNG_COLOR_TYPE_GRAY, 16, gray16, NULL, 0);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	want[0] = 0;
	want[1] = 1;
	want[2] = 0x8000 / 65535.0;
	want[3] = 0x1234 / 65535.0;
	ok(st == DP_OK && a.shape[0] == 2 && a.shape[1] == 2 &&
	   close_to(a.data, want, 4), "png: 16-bit gray / 65535");
	dp_array_free(&a);

	path_in(path, sizeof path, "rgba.png");
	write_png(path, 2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba, NULL, 0);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	want[0] = want[1] = luma(100, 150, 200, 255);
	ok(st == DP_OK && a.shape[0] == 1 && a.shape[1] == 2 &&
	   close_to(a.data, want, 2), "png: RGBA, alpha ignored");
	dp_array_free(&a);

	path_in(path, sizeof path, "palette.png");
	write_png(path, 3, 1, PNG_COLOR_TYPE_PALETTE, 8, pidx, pal, 3);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	for (int i = 0; i < 3; i++)
		want[i] = luma(pal[pidx[i]].red, pal[pidx[i]].green,
			       pal[pidx[i]].blue, 255);
	ok(st == DP_OK && a.shape[1] == 3 && close_to(a.data, want, 3),
	   "png: palette colors through the luma formula");
	dp_array_free(&a);

	/* Damaged PNGs. */
	path_in(path, sizeof path, "rgb.png");
	full = slurp(path, &len);
	path_in(path, sizeof path, "cut.png");
	write_raw(path, full, len / 2);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_FORMAT && strstr(msg, path) && a.data == NULL &&
	   strstr(msg, "truncated"),
	   "png: a file cut in half is DP_ERR_FORMAT naming the file");
	diag("  %s", msg);
	full[len / 2] ^= 0x40;
	path_in(path, sizeof path, "flipped.png");
	write_raw(path, full, len);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_FORMAT && strstr(msg, path),
	   "png: a flipped bit (CRC) is DP_ERR_FORMAT naming the file");
	diag("  %s", msg);
	free(full);
	path_in(path, sizeof path, "w.idx");
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_FORMAT && strstr(msg, path) &&
	   strstr(msg, "not a PNG"), "png: an IDX file is not a PNG");
	path_in(path, sizeof path, "empty.idx");
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_FORMAT && strstr(msg, "empty"), "png: empty file");
	path_in(path, sizeof path, "sig.png");
	write_raw(path, "\x89PNG", 4);
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_FORMAT && strstr(msg, "too short"),
	   "png: a file with half a signature is too short");
	path_in(path, sizeof path, "missing.png");
	st = dp_png_read_gray(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_IO && strstr(msg, path) && strstr(msg, strerror(ENOENT)),
	   "png: missing file is DP_ERR_IO");
}

int main(void)
{
	if (!make_temp_dir(tmpdir, sizeof tmpdir)) {
		printf("Bail out! cannot create a temporary directory\n");
		return 1;
	}
	test_round_trips();
	test_writer_bytes();
	test_reader_values();
	test_damaged();
	test_writer();
	test_png();
	remove_tree(tmpdir);
	return done_testing();
}
