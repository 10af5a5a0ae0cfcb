/* t_npy.c - tests of the .npy reader and writer (runtime/npy.c).
 *
 * Files the reader is tested on are built byte by byte here, not with the
 * writer, so that a bug shared by both cannot hide itself. All files live
 * in a mkdtemp directory under /tmp that is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpgen.h"
#include "tap.h"
#include "util.h"

#define MSG_LEN 512
#define GOOD_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

static char tmpdir[64];

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* ---- raw file building ---- */

typedef struct bytes {
	unsigned char b[70000]; /* room for a 64 KiB header */
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

static void put_byte(bytes *x, unsigned v)
{
	unsigned char c = (unsigned char)v;

	put(x, &c, 1);
}

static void put_le(bytes *x, uint32_t v, int nbytes)
{
	for (int i = 0; i < nbytes; i++)
		put_byte(x, (v >> (8 * i)) & 0xff);
}

#define ALIGN64 ((size_t)-1)

/* A .npy preamble and header for dict, with the data left to the caller.
 * pad: spaces after the dict, or ALIGN64 to start the data at a multiple
 * of 64 as numpy does. */
static void build_header(bytes *x, int major, const char *dict, size_t pad)
{
	int lsize = major == 1 ? 2 : 4;
	size_t dlen = strlen(dict);

	if (pad == ALIGN64)
		pad = (64 - (6 + 2 + lsize + dlen + 1) % 64) % 64;
	x->n = 0;
	put(x, "\x93NUMPY", 6);
	put_byte(x, (unsigned)major);
	put_byte(x, 0);
	put_le(x, (uint32_t)(dlen + pad + 1), lsize);
	put(x, dict, dlen);
	for (size_t i = 0; i < pad; i++)
		put_byte(x, ' ');
	put_byte(x, '\n');
}

/* n float32 values given as bit patterns, little-endian. */
static void put_floats(bytes *x, const uint32_t *bits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_le(x, bits[i], 4);
}

/* n filler data bytes. */
static void put_filler(bytes *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_byte(x, (unsigned)(0x40 + i % 16));
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
		diag("cannot write %s: %s", path, strerror(errno));
		exit(2);
	}
}

static size_t read_raw(const char *path, unsigned char *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (!fp)
		return 0;
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

/* ---- random and special values ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng32(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const uint32_t special_bits[] = {
	0x80000000u, /* -0.0 */
	0x00000001u, /* smallest subnormal */
	0x807fffffu, /* largest negative subnormal */
	0x7f800000u, /* +inf */
	0xff800000u, /* -inf */
	0x7fc00000u, /* quiet NaN */
	0x7fa12345u, /* signalling NaN with a payload */
	0xffc00001u, /* negative quiet NaN with a payload */
	0x00000000u, /* +0.0 */
	0x7f7fffffu, /* largest finite */
};
#define N_SPECIAL (sizeof special_bits / sizeof special_bits[0])

static float from_bits(uint32_t b)
{
	float f;

	memcpy(&f, &b, sizeof f);
	return f;
}

/* Random bit patterns (all classes of floats), with the special values
 * spread over the array so each test array holds as many as fit. */
static void fill_values(float *v, int64_t n, size_t first_special)
{
	for (int64_t i = 0; i < n; i++)
		v[i] = from_bits(rng32());
	for (int64_t i = 0; i < n && (size_t)i < N_SPECIAL; i++) {
		int64_t at = (i * 7) % n;

		v[at] = from_bits(special_bits[(first_special + (size_t)i) %
					       N_SPECIAL]);
	}
}

/* ---- round trips ---- */

static void round_trip(const char *name, int ndim, const int64_t *shape,
		       size_t first_special)
{
	char path[256], msg[MSG_LEN];
	dp_array a = { 0 }, b;
	int64_t n;
	dp_status st;
	struct stat sb;
	int same;

	path_in(path, sizeof path, name);
	a.ndim = ndim;
	for (int i = 0; i < ndim; i++)
		a.shape[i] = shape[i];
	n = dp_array_elems(&a);
	a.data = malloc((size_t)n * sizeof(float));
	if (!a.data) {
		diag("out of memory");
		exit(2);
	}
	fill_values(a.data, n, first_special);
	st = dp_npy_write(path, &a, msg, sizeof msg);
	if (!ok(st == DP_OK, "%dd round trip: write %s", ndim, name))
		diag("status %d: %s", (int)st, msg);
	/* numpy's layout: header padded to 64 bytes, then the raw data. */
	ok(stat(path, &sb) == 0 && sb.st_size >= n * 4 + 64 &&
	   (sb.st_size - n * 4) % 64 == 0,
	   "%dd round trip: file size is a 64-byte header plus %lld bytes",
	   ndim, (long long)(n * 4));
	st = dp_npy_read(path, &b, msg, sizeof msg);
	if (!ok(st == DP_OK, "%dd round trip: read back", ndim))
		diag("status %d: %s", (int)st, msg);
	same = st == DP_OK && b.ndim == ndim && b.data != NULL;
	for (int i = 0; same && i < ndim; i++)
		same = b.shape[i] == shape[i];
	ok(same, "%dd round trip: ndim and shape preserved", ndim);
	ok(same && memcmp(a.data, b.data, (size_t)n * sizeof(float)) == 0,
	   "%dd round trip: all %lld values bit-identical", ndim,
	   (long long)n);
	dp_array_free(&b);
	free(a.data);
}

static void test_round_trips(void)
{
	static const int64_t s1[] = { 13 };
	static const int64_t s2[] = { 3, 5 };
	static const int64_t s4[] = { 2, 3, 4, 5 };
	static const int64_t s8[] = { 1, 2, 1, 3, 1, 2, 1, 2 };

	/* 0-d arrays hold one value: try a NaN with payload and -0.0. */
	round_trip("rt0a.npy", 0, NULL, 6);
	round_trip("rt0b.npy", 0, NULL, 0);
	round_trip("rt1.npy", 1, s1, 0);
	round_trip("rt2.npy", 2, s2, 3);
	round_trip("rt4.npy", 4, s4, 5);
	round_trip("rt8.npy", 8, s8, 1);
}

/* The writer's header must be exactly what numpy writes. */
static void check_written_header(const char *name, int ndim,
				 const int64_t *shape, const char *dict)
{
	char path[256], msg[MSG_LEN];
	unsigned char buf[512];
	float v[6] = { 1, 2, 3, 4, 5, 6 };
	dp_array a = { 0 };
	size_t n, dlen = strlen(dict), hlen;
	int good;

	path_in(path, sizeof path, name);
	a.ndim = ndim;
	for (int i = 0; i < ndim; i++)
		a.shape[i] = shape[i];
	a.data = v;
	if (dp_npy_write(path, &a, msg, sizeof msg) != DP_OK)
		diag("write failed: %s", msg);
	n = read_raw(path, buf, sizeof buf);
	hlen = n >= 10 ? (size_t)buf[8] | (size_t)buf[9] << 8 : 0;
	good = n >= 10 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 &&
	       (10 + hlen) % 64 == 0 && 10 + hlen <= n &&
	       hlen > dlen && memcmp(buf + 10, dict, dlen) == 0 &&
	       buf[10 + hlen - 1] == '\n';
	for (size_t i = 10 + dlen; good && i < 10 + hlen - 1; i++)
		good = buf[i] == ' ';
	good = good && n == 10 + hlen +
		(size_t)dp_array_elems(&a) * sizeof(float) &&
		memcmp(buf + 10 + hlen, v,
		       (size_t)dp_array_elems(&a) * sizeof(float)) == 0;
	if (!ok(good, "writer header for %s is v1.0 \"%s\" padded to 64",
		name, dict))
		diag("file has %zu bytes, header length %zu", n, hlen);
}

static void test_written_headers(void)
{
	static const int64_t s1[] = { 6 };
	static const int64_t s2[] = { 2, 3 };
	static const int64_t s3[] = { 1, 2, 3 };

	check_written_header("h0.npy", 0, NULL, "{'descr': '<f4', "
			     "'fortran_order': False, 'shape': (), }");
	check_written_header("h1.npy", 1, s1, "{'descr': '<f4', "
			     "'fortran_order': False, 'shape': (6,), }");
	check_written_header("h2.npy", 2, s2, "{'descr': '<f4', "
			     "'fortran_order': False, 'shape': (2, 3), }");
	check_written_header("h3.npy", 3, s3, "{'descr': '<f4', "
			     "'fortran_order': False, 'shape': (1, 2, 3), }");
}

/* ---- reading hand-built files ---- */

/* 1.0, -2.5, 0.5, 3.0, 100.0, -0.0 */
static const uint32_t known_bits[6] = {
	0x3f800000u, 0xc0200000u, 0x3f000000u,
	0x40400000u, 0x42c80000u, 0x80000000u,
};
static const float known_vals[6] = { 1.0f, -2.5f, 0.5f, 3.0f, 100.0f, -0.0f };

/* Read a file with the known values under dict; expect the given shape. */
static void read_known(const char *name, int major, const char *dict,
		       size_t pad, int ndim, const int64_t *shape, size_t nval)
{
	char path[256], msg[MSG_LEN];
	dp_array a;
	bytes x;
	dp_status st;
	int good;

	path_in(path, sizeof path, name);
	build_header(&x, major, dict, pad);
	put_floats(&x, known_bits, nval);
	write_raw(path, x.b, x.n);
	st = dp_npy_read(path, &a, msg, sizeof msg);
	good = st == DP_OK && a.data && a.ndim == ndim &&
	       dp_array_elems(&a) == (int64_t)nval;
	for (int i = 0; good && i < ndim; i++)
		good = a.shape[i] == shape[i];
	for (size_t i = 0; good && i < nval; i++)
		good = a.data[i] == known_vals[i] &&
		       memcmp(&a.data[i], &known_bits[i], 4) == 0;
	if (!ok(good, "read v%d.0 file %s: %s", major, name, dict))
		diag("status %d: %s", (int)st, msg);
	dp_array_free(&a);
}

static void test_read_handmade(void)
{
	static const int64_t s23[] = { 2, 3 };
	static const int64_t s6[] = { 6 };
	static const int64_t s8d[] = { 1, 1, 1, 1, 1, 1, 2, 3 };

	read_known("v1.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
		   "'shape': (2, 3), }", ALIGN64, 2, s23, 6);
	read_known("v2.npy", 2, "{\"shape\": (2,3), \"fortran_order\": "
		   "False, \"descr\": \"<f4\"}", ALIGN64, 2, s23, 6);
	read_known("v3.npy", 3, "{'fortran_order': False, 'descr': '<f4', "
		   "'shape': (2, 3,)}", ALIGN64, 2, s23, 6);
	read_known("spaces.npy", 1, "  { 'descr' :'<f4' ,'fortran_order'"
		   ":False,\t'shape':( 6 , ) , }", ALIGN64, 1, s6, 6);
	read_known("unaligned.npy", 1, "{'descr': '<f4', 'fortran_order': "
		   "False, 'shape': (2, 3), }", 0, 2, s23, 6);
	/* 65536 needs the third byte of the 4-byte length field. */
	read_known("bighdr.npy", 2, GOOD_DICT, 65536 - strlen(GOOD_DICT) - 1,
		   2, s23, 6);
	read_known("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
		   "'shape': (2L, 3L), }", ALIGN64, 2, s23, 6);
	read_known("scalar.npy", 1, "{'descr': '<f4', 'fortran_order': "
		   "False, 'shape': (), }", ALIGN64, 0, NULL, 1);
	read_known("eightd.npy", 1, "{'descr': '<f4', 'fortran_order': "
		   "False, 'shape': (1, 1, 1, 1, 1, 1, 2, 3), }", ALIGN64, 8,
		   s8d, 6);
}

/* ---- bad files ---- */

/* Read path, which must fail with want and a message naming the file and
 * containing word; the output array must come back without data. */
static void expect_bad(const char *path, const char *what, dp_status want,
		       const char *word)
{
	char msg[MSG_LEN];
	float sentinel = 0;
	dp_array a;
	dp_status st;

	memset(msg, 'x', sizeof msg);
	a.data = &sentinel;
	st = dp_npy_read(path, &a, msg, sizeof msg);
	if (!ok(st == want && msg[0] != '\0' && strstr(msg, path) &&
		strstr(msg, word) && a.data == NULL && strchr(msg, '\n') == NULL,
		"bad file (%s): status %d, message names the file and says "
		"\"%s\"", what, (int)want, word))
		diag("got status %d, data %p", (int)st, (void *)a.data);
	diag("message: %s", msg);
	if (st == DP_OK)
		dp_array_free(&a);
}

static void bad_raw(const char *name, const void *p, size_t n,
		    dp_status want, const char *word)
{
	char path[256];

	path_in(path, sizeof path, name);
	write_raw(path, p, n);
	expect_bad(path, name, want, word);
}

/* A v1.0 file with dict and ndata filler data bytes. */
static void bad_dict(const char *name, const char *dict, size_t ndata,
		     const char *word)
{
	bytes x;

	build_header(&x, 1, dict, ALIGN64);
	put_filler(&x, ndata);
	bad_raw(name, x.b, x.n, DP_ERR_FORMAT, word);
}

static void test_bad_preamble(void)
{
	char path[256];
	bytes x;

	path_in(path, sizeof path, "does-not-exist.npy");
	expect_bad(path, "missing file", DP_ERR_IO, "No such file");
	bad_raw("empty.npy", "", 0, DP_ERR_FORMAT, "empty");
	bad_raw("text.npy", "hello world, not numpy\n", 23, DP_ERR_FORMAT,
		"magic");
	build_header(&x, 1, GOOD_DICT, ALIGN64);
	put_filler(&x, 24);
	x.b[5] = 'Z';
	bad_raw("magic.npy", x.b, x.n, DP_ERR_FORMAT, "magic");
	bad_raw("short.npy", "\x93NUMPY\x01", 7, DP_ERR_FORMAT, "too short");
	bad_raw("nolen.npy", "\x93NUMPY\x02\x00\x10", 9, DP_ERR_FORMAT,
		"length");
	build_header(&x, 1, GOOD_DICT, ALIGN64);
	put_filler(&x, 24);
	x.b[6] = 4;
	bad_raw("version4.npy", x.b, x.n, DP_ERR_FORMAT, "version 4.0");
	x.b[6] = 1;
	x.b[7] = 1;
	bad_raw("version11.npy", x.b, x.n, DP_ERR_FORMAT, "version 1.1");
	x.b[7] = 0;
	x.b[8] = 0x88; /* header length 5000 in a 128-byte file */
	x.b[9] = 0x13;
	bad_raw("hlen.npy", x.b, x.n, DP_ERR_FORMAT, "past the end");
	build_header(&x, 2, GOOD_DICT, ALIGN64);
	put_filler(&x, 24);
	memcpy(x.b + 8, "\xff\xff\xff\xff", 4);
	bad_raw("hlenhuge.npy", x.b, x.n, DP_ERR_FORMAT, "limit");
	build_header(&x, 1, GOOD_DICT, ALIGN64);
	put_filler(&x, 24);
	x.b[x.n - 24 - 1] = ' '; /* the header's final newline */
	bad_raw("nonewline.npy", x.b, x.n, DP_ERR_FORMAT, "newline");
	build_header(&x, 1, GOOD_DICT, ALIGN64);
	put_filler(&x, 24);
	x.b[x.n - 24 - 2] = '\0'; /* a padding space */
	bad_raw("nul.npy", x.b, x.n, DP_ERR_FORMAT, "NUL");
}

static void test_bad_dicts(void)
{
	bad_dict("f8.npy", "{'descr': '<f8', 'fortran_order': False, "
		 "'shape': (2, 3), }", 48, "dtype '<f8' is not supported");
	bad_dict("bigendian.npy", "{'descr': '>f4', 'fortran_order': False, "
		 "'shape': (2, 3), }", 24, "dtype '>f4' is not supported");
	bad_dict("i4.npy", "{'descr': '<i4', 'fortran_order': False, "
		 "'shape': (2, 3), }", 24, "dtype '<i4' is not supported");
	bad_dict("structured.npy", "{'descr': [('a', '<f4')], "
		 "'fortran_order': False, 'shape': (2, 3), }", 24,
		 "structured");
	bad_dict("fortran.npy", "{'descr': '<f4', 'fortran_order': True, "
		 "'shape': (2, 3), }", 24, "fortran_order True");
	bad_dict("negdim.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, -3), }", 24, "-3 in the shape is negative");
	bad_dict("zerodim.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, 0), }", 0, "zero size");
	bad_dict("ninedims.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4, "9 dimensions");
	bad_dict("overflow.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (99999999999999999999,), }", 4,
		 "99999999999999999999 in the shape does not fit in int64");
	bad_dict("int64max.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (9223372036854775807, 9223372036854775807), }", 4,
		 "DP_MAX_ELEMS");
	/* 16384 * 16385 = DP_MAX_ELEMS + 16384 */
	bad_dict("toobig.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (16384, 16385), }", 0, "DP_MAX_ELEMS");
	bad_dict("truncated.npy", GOOD_DICT, 20, "truncated");
	bad_dict("nodata.npy", GOOD_DICT, 0, "truncated");
	bad_dict("trailing.npy", GOOD_DICT, 25, "trailing");
	bad_dict("garbage.npy", "hello, world", 24, "malformed");
	bad_dict("nobrace.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, 3)", 24, "malformed");
	bad_dict("nocomma.npy", "{'descr': '<f4' 'fortran_order': False, "
		 "'shape': (2, 3)}", 24, "malformed");
	bad_dict("openshape.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, 3}", 24, "malformed");
	bad_dict("badbool.npy", "{'descr': '<f4', 'fortran_order': Falsey, "
		 "'shape': (2, 3)}", 24, "malformed");
	bad_dict("unquoted.npy", "{descr: '<f4', 'fortran_order': False, "
		 "'shape': (2, 3)}", 24, "malformed");
	bad_dict("floatdim.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2.5, 3)}", 24, "malformed");
	bad_dict("after.npy", GOOD_DICT " x", 24, "after the header dict");
	bad_dict("noshape.npy", "{'descr': '<f4', 'fortran_order': False, }",
		 24, "no 'shape' key");
	bad_dict("nodescr.npy", "{'fortran_order': False, 'shape': (2, 3)}",
		 24, "no 'descr' key");
	bad_dict("dupkey.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, 3), 'shape': (2, 3)}", 24, "duplicate key");
	bad_dict("extrakey.npy", "{'descr': '<f4', 'fortran_order': False, "
		 "'shape': (2, 3), 'colour': 'red'}", 24, "unknown key");
}

/* ---- writer failures ---- */

static void test_write_missing_dir(void)
{
	char dir[256], path[300], msg[MSG_LEN];
	float v[2] = { 1, 2 };
	dp_array a = { 0 };
	dp_status st;

	path_in(dir, sizeof dir, "no-such-dir");
	snprintf(path, sizeof path, "%s/out.npy", dir);
	a.ndim = 1;
	a.shape[0] = 2;
	a.data = v;
	st = dp_npy_write(path, &a, msg, sizeof msg);
	if (!ok(st == DP_ERR_IO && strstr(msg, path) &&
		strstr(msg, strerror(ENOENT)),
		"write into a missing directory: DP_ERR_IO naming the path "
		"and the reason"))
		diag("status %d", (int)st);
	diag("message: %s", msg);
	ok(!file_exists(path) && !file_exists(dir),
	   "write into a missing directory leaves nothing behind");
}

static void test_write_to_directory(void)
{
	char msg[MSG_LEN];
	float v[1] = { 1 };
	dp_array a = { 0 };
	dp_status st;

	a.data = v;
	st = dp_npy_write(tmpdir, &a, msg, sizeof msg);
	ok(st == DP_ERR_IO && strstr(msg, tmpdir) && strstr(msg, "directory"),
	   "write over a directory fails with DP_ERR_IO");
	diag("message: %s", msg);
}

/* Any "full.tmp*" in /dev would be a temporary file left behind. */
static int dev_full_temps(void)
{
	DIR *d = opendir("/dev");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "full.tmp", 8) == 0)
			n++;
	closedir(d);
	return n;
}

static int is_dev_full(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISCHR(sb.st_mode);
}

/* A device must be written in place: renaming a temporary file over it
 * would replace the device. Tried first through a symlink in tmpdir, where
 * a writer that gets this wrong replaces only the link, and only then (we
 * may be root) on /dev/full itself. */
static void test_write_dev_full(void)
{
	char link[256], msg[MSG_LEN];
	float v[16] = { 0 };
	dp_array a = { 0 };
	struct stat sb;
	dp_status st;
	int safe;

	if (!is_dev_full("/dev/full")) {
		for (int i = 0; i < 4; i++)
			ok(1, "# SKIP no /dev/full device");
		return;
	}
	a.ndim = 2;
	a.shape[0] = 4;
	a.shape[1] = 4;
	a.data = v;
	path_in(link, sizeof link, "full.npy");
	if (symlink("/dev/full", link) != 0)
		diag("symlink %s: %s", link, strerror(errno));
	st = dp_npy_write(link, &a, msg, sizeof msg);
	safe = lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode) &&
	       is_dev_full(link);
	ok(st == DP_ERR_IO && strstr(msg, link) &&
	   strstr(msg, strerror(ENOSPC)) && safe,
	   "write to a link to /dev/full fails with DP_ERR_IO, link intact");
	diag("message: %s", msg);
	if (!safe) {
		for (int i = 0; i < 3; i++)
			ok(0, "/dev/full itself not tried: the writer "
			   "would replace the device");
		return;
	}
	st = dp_npy_write("/dev/full", &a, msg, sizeof msg);
	if (!ok(st == DP_ERR_IO && strstr(msg, "/dev/full") &&
		strstr(msg, strerror(ENOSPC)),
		"write to /dev/full fails with DP_ERR_IO and says why"))
		diag("status %d", (int)st);
	diag("message: %s", msg);
	ok(dev_full_temps() == 0,
	   "write to /dev/full leaves no /dev/full.tmp* file");
	ok(is_dev_full("/dev/full"), "/dev/full is still the device");
}

/* A write that fails after the temporary file exists (here: the file size
 * limit, EFBIG) must remove it and leave the old file untouched. */
static void test_write_fails_midway(void)
{
	char path[256], msg[MSG_LEN];
	static float big[4096];
	float small[2] = { 5, 6 };
	dp_array a = { 0 }, b;
	struct rlimit old, lim;
	dp_status st;
	int good;

	path_in(path, sizeof path, "keep.npy");
	a.ndim = 1;
	a.shape[0] = 2;
	a.data = small;
	dp_npy_write(path, &a, msg, sizeof msg);
	a.shape[0] = 4096;
	a.data = big;
	if (getrlimit(RLIMIT_FSIZE, &old) != 0) {
		ok(1, "# SKIP getrlimit: %s", strerror(errno));
		ok(1, "# SKIP getrlimit");
		return;
	}
	/* Without SIG_IGN the limit would kill us with SIGXFSZ. */
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 4096;
	setrlimit(RLIMIT_FSIZE, &lim);
	st = dp_npy_write(path, &a, msg, sizeof msg);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	ok(st == DP_ERR_IO && strstr(msg, path) && strstr(msg, strerror(EFBIG))
	   && dir_entries_like(tmpdir, ".tmp") == 0,
	   "a write failing midway returns DP_ERR_IO and removes its "
	   "temporary file");
	diag("message: %s", msg);
	good = dp_npy_read(path, &b, msg, sizeof msg) == DP_OK &&
	       b.ndim == 1 && b.shape[0] == 2 && b.data[0] == 5 &&
	       b.data[1] == 6;
	ok(good, "the file being replaced keeps its old content");
	dp_array_free(&b);
}

/* Invalid arrays are refused before any file is created. */
static void bad_array(const char *what, int ndim, int64_t d0, int64_t d1,
		      int with_data)
{
	char path[256], msg[MSG_LEN];
	float v[4] = { 0 };
	dp_array a = { 0 };
	dp_status st;

	path_in(path, sizeof path, "never.npy");
	a.ndim = ndim;
	a.shape[0] = d0;
	a.shape[1] = d1;
	a.data = with_data ? v : NULL;
	st = dp_npy_write(path, &a, msg, sizeof msg);
	ok(st == DP_ERR_ARG && strstr(msg, path) && !file_exists(path),
	   "write refuses %s with DP_ERR_ARG and creates no file", what);
	diag("message: %s", msg);
}

static void test_write_bad_arrays(void)
{
	char path[256], msg[MSG_LEN];

	bad_array("ndim -1", -1, 1, 1, 1);
	bad_array("ndim 9", 9, 1, 1, 1);
	bad_array("a zero size", 2, 2, 0, 1);
	bad_array("a negative size", 2, -2, 2, 1);
	bad_array("too many elements", 2, 65536, 8192, 1);
	bad_array("sizes whose product overflows", 2, INT64_MAX / 2, 3, 1);
	bad_array("NULL data", 2, 2, 2, 0);
	path_in(path, sizeof path, "never.npy");
	ok(dp_npy_write(path, NULL, msg, sizeof msg) == DP_ERR_ARG &&
	   !file_exists(path), "write refuses a NULL array");
}

/* Rewriting a file replaces its content and keeps its permissions. */
static void test_overwrite(void)
{
	char path[256], msg[MSG_LEN];
	float v1[3] = { 1, 2, 3 }, v2[2] = { -7, 8 };
	dp_array a = { 0 }, b;
	struct stat sb;
	int good;

	path_in(path, sizeof path, "over.npy");
	a.ndim = 1;
	a.shape[0] = 3;
	a.data = v1;
	dp_npy_write(path, &a, msg, sizeof msg);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644,
	   "a new file gets mode 0644");
	chmod(path, 0600);
	a.shape[0] = 2;
	a.data = v2;
	ok(dp_npy_write(path, &a, msg, sizeof msg) == DP_OK,
	   "overwrite an existing file");
	good = dp_npy_read(path, &b, msg, sizeof msg) == DP_OK &&
	       b.ndim == 1 && b.shape[0] == 2 && b.data[0] == -7 &&
	       b.data[1] == 8;
	ok(good, "the overwritten file holds the new array");
	dp_array_free(&b);
	ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	   "overwriting keeps the file's mode 0600");
}

/* ---- small API pieces ---- */

static void test_elems_and_free(void)
{
	dp_array a = { 0 };
	char path[256], msg[MSG_LEN];

	ok(dp_array_elems(&a) == 1, "a 0-d array has 1 element");
	a.ndim = 3;
	a.shape[0] = 2;
	a.shape[1] = 3;
	a.shape[2] = 4;
	ok(dp_array_elems(&a) == 24, "a (2, 3, 4) array has 24 elements");
	a.shape[1] = 0;
	ok(dp_array_elems(&a) == -1, "a zero size gives -1");
	a.shape[1] = INT64_MAX;
	ok(dp_array_elems(&a) == -1, "an overflowing count gives -1");
	a.ndim = 9;
	ok(dp_array_elems(&a) == -1, "ndim 9 gives -1");
	ok(dp_array_elems(NULL) == -1, "a NULL array gives -1");
	a.ndim = 1;
	a.data = malloc(4);
	dp_array_free(&a);
	ok(a.data == NULL && a.ndim == 0, "dp_array_free clears the array");
	dp_array_free(&a);
	dp_array_free(NULL);
	ok(1, "dp_array_free is safe twice and on NULL");
	path_in(path, sizeof path, "absent.npy");
	ok(dp_npy_read(path, &a, NULL, 0) == DP_ERR_IO && a.data == NULL,
	   "a NULL message buffer is accepted");
	msg[0] = 'q';
	ok(dp_npy_read("/nonexistent/x.npy", &a, msg, 1) == DP_ERR_IO &&
	   msg[0] == '\0', "a 1-byte message buffer gets an empty string");
}

int main(void)
{
	strcpy(tmpdir, "/tmp/t_npy.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_round_trips();
	test_written_headers();
	test_read_handmade();
	test_bad_preamble();
	test_bad_dicts();
	test_write_missing_dir();
	test_write_to_directory();
	test_write_dev_full();
	test_write_fails_midway();
	test_write_bad_arrays();
	test_overwrite();
	test_elems_and_free();
	ok(dir_entries_like(tmpdir, ".tmp") == 0, "no temporary files left in %s", tmpdir);
	remove_tree(tmpdir);
	ok(access(tmpdir, F_OK) != 0, "temporary directory removed");
	return done_testing();
}
