/* npy.c - reading and writing NumPy .npy files (float32, C order only).
 *
 * Layout of a .npy file: the magic "\x93NUMPY", a major and a minor version
 * byte, the header length (2 bytes little-endian in version 1.0, 4 bytes in
 * 2.0 and 3.0), the header itself (a Python dict literal padded with spaces
 * and ended by '\n'), then the raw array data.
 *
 * Only '<f4' arrays in C order are accepted: that is all dpgen produces and
 * consumes, and rejecting the rest with a precise message beats a silent
 * conversion. The data is copied between the file and memory unchanged, so
 * this code assumes a little-endian host with IEEE binary32 floats (dpgen
 * targets x86_64); the build stops on anything else instead of producing
 * byte-swapped numbers.
 *
 * Library code: every failure is returned as a dp_status with a one-line
 * explanation "<path>: <problem>" in the caller's buffer; nothing is printed
 * and nothing exits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpgen.h"
#include "fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c stores float32 data as is and needs a little-endian host"
#endif
_Static_assert(sizeof(float) == 4, "float must be IEEE binary32");

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_NDIM 8
/* A genuine header for 8 dimensions is under 200 bytes; the cap keeps a
 * corrupt 4-byte length field from making us allocate gigabytes. */
#define NPY_MAX_HEADER 65536
/* Keys and the dtype string are short; longer ones are rejected. */
#define NPY_MAX_STR 32

_Static_assert(sizeof(((dp_array *)0)->shape) / sizeof(int64_t) ==
	       NPY_MAX_NDIM, "dp_array.shape must hold NPY_MAX_NDIM sizes");
/* DP_MAX_ELEMS float32 values must be addressable with size_t. */
_Static_assert(DP_MAX_ELEMS <= (int64_t)(SIZE_MAX / sizeof(float)),
	       "DP_MAX_ELEMS floats do not fit in size_t");

static int64_t count_elems(int ndim, const int64_t *shape)
{
	int64_t n = 1;

	if (ndim < 0 || ndim > NPY_MAX_NDIM)
		return -1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 1 || n > INT64_MAX / shape[i])
			return -1;
		n *= shape[i];
	}
	return n;
}

/* Element count of an array; 1 for 0-d. -1 for a NULL array, an ndim
 * outside 0..8, a size below 1 or a count that overflows int64. */
int64_t dp_array_elems(const dp_array *a)
{
	return a ? count_elems(a->ndim, a->shape) : -1;
}

void dp_array_free(dp_array *a)
{
	if (!a)
		return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ */
/* Header dict parser.                                                 */
/*                                                                     */
/* numpy writes the header with repr(), but other writers (and older   */
/* numpy versions) vary spacing, quoting, key order and trailing       */
/* commas, so this is a small recursive-descent parser rather than a   */
/* string comparison. It accepts exactly the subset of Python literal  */
/* syntax that a .npy header of a plain array can contain.             */
/* ------------------------------------------------------------------ */

enum { KEY_DESCR = 1, KEY_FORTRAN = 2, KEY_SHAPE = 4 };

typedef struct npy_header {
	unsigned seen;          /* KEY_* bits of the keys found so far */
	char descr[NPY_MAX_STR];
	int fortran;
	int ndim;               /* may exceed NPY_MAX_NDIM; checked later */
	int64_t shape[NPY_MAX_NDIM];
} npy_header;

typedef struct parser {
	const char *s;          /* NUL-terminated header text */
	size_t pos;
	const dp_file_ctx *ctx;
} parser;

static char peek(const parser *ps)
{
	return ps->s[ps->pos];
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_word_char(char ch)
{
	return is_digit(ch) || ch == '_' || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z');
}

static void skip_space(parser *ps)
{
	char ch = peek(ps);

	while (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
		ch = ps->s[++ps->pos];
}

static dp_status syntax(const parser *ps, const char *expected)
{
	return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
		    "malformed header dict at offset %zu: expected %s",
		    ps->pos, expected);
}

/* Consume ch (after optional spaces) if it comes next. */
static int accept(parser *ps, char ch)
{
	skip_space(ps);
	if (peek(ps) != ch)
		return 0;
	ps->pos++;
	return 1;
}

/* A quoted string without escapes: keys and dtype strings never need
 * them, and refusing them keeps the copy exact. */
static dp_status parse_string(parser *ps, char *out, size_t cap)
{
	size_t start, n;
	char quote;

	skip_space(ps);
	quote = peek(ps);
	if (quote != '\'' && quote != '"')
		return syntax(ps, "a quoted string");
	start = ++ps->pos;
	while (peek(ps) != quote) {
		if (peek(ps) == '\0' || peek(ps) == '\n')
			return syntax(ps, "a closing quote");
		if (peek(ps) == '\\')
			return syntax(ps, "a string without backslash escapes");
		ps->pos++;
	}
	n = ps->pos - start;
	ps->pos++;
	if (n >= cap)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "header string at offset %zu is too long",
			    start - 1);
	memcpy(out, ps->s + start, n);
	out[n] = '\0';
	return DP_OK;
}

/* True if word comes next as a whole identifier. */
static int accept_word(parser *ps, const char *word)
{
	size_t n = strlen(word);

	skip_space(ps);
	if (strncmp(ps->s + ps->pos, word, n) != 0 ||
	    is_word_char(ps->s[ps->pos + n]))
		return 0;
	ps->pos += n;
	return 1;
}

static dp_status parse_bool(parser *ps, int *out)
{
	if (accept_word(ps, "True"))
		*out = 1;
	else if (accept_word(ps, "False"))
		*out = 0;
	else
		return syntax(ps, "True or False");
	return DP_OK;
}

/* One size of the shape. Negative, zero and oversized values are read in
 * full first so that the message can quote them. */
static dp_status parse_dim(parser *ps, int64_t *out)
{
	size_t start;
	int negative = 0, overflow = 0;
	int64_t v = 0;
	int len;

	skip_space(ps);
	start = ps->pos;
	if (peek(ps) == '-') {
		negative = 1;
		ps->pos++;
	}
	if (!is_digit(peek(ps)))
		return syntax(ps, "an integer size in the shape");
	for (; is_digit(peek(ps)); ps->pos++) {
		int d = peek(ps) - '0';

		if (v > (INT64_MAX - d) / 10)
			overflow = 1;
		else if (!overflow)
			v = v * 10 + d;
	}
	/* The header is capped at NPY_MAX_HEADER bytes, so this fits. */
	len = (int)(ps->pos - start);
	/* Python 2 numpy wrote long sizes as "3L". */
	if (peek(ps) == 'L' || peek(ps) == 'l')
		ps->pos++;
	if (overflow)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "size %.*s in the shape does not fit in int64",
			    len, ps->s + start);
	if (negative && v != 0)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "size %.*s in the shape is negative",
			    len, ps->s + start);
	if (v == 0)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT, "shape has a zero size "
			    "(empty arrays are not supported)");
	*out = v;
	return DP_OK;
}

/* "()", "(3,)", "(2, 3)", "(2, 3,)"; also "(3)", which Python would read
 * as a plain int, since its meaning is unambiguous. Sizes past the eighth
 * are parsed but not stored, so that the count can be reported. */
static dp_status parse_shape(parser *ps, npy_header *h)
{
	int n = 0;

	if (!accept(ps, '('))
		return syntax(ps, "'(' to start the shape");
	if (!accept(ps, ')')) {
		for (;;) {
			int64_t dim = 0; /* set on success; gcc cannot tell */
			dp_status st = parse_dim(ps, &dim);

			if (st != DP_OK)
				return st;
			if (n < NPY_MAX_NDIM)
				h->shape[n] = dim;
			n++;
			if (accept(ps, ',')) {
				if (accept(ps, ')'))
					break;
			} else if (accept(ps, ')')) {
				break;
			} else {
				return syntax(ps, "',' or ')' in the shape");
			}
		}
	}
	if (n > NPY_MAX_NDIM)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT, "shape has %d dimensions; "
			    "at most %d are supported", n, NPY_MAX_NDIM);
	h->ndim = n;
	return DP_OK;
}

static dp_status parse_descr(parser *ps, npy_header *h)
{
	skip_space(ps);
	if (peek(ps) == '[')
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT, "structured dtypes are "
			    "not supported (need little-endian float32 '<f4')");
	return parse_string(ps, h->descr, sizeof h->descr);
}

static unsigned key_bit(const char *key)
{
	if (strcmp(key, "descr") == 0)
		return KEY_DESCR;
	if (strcmp(key, "fortran_order") == 0)
		return KEY_FORTRAN;
	if (strcmp(key, "shape") == 0)
		return KEY_SHAPE;
	return 0;
}

/* One "key: value" entry. Unknown and repeated keys are errors, as in
 * numpy itself: either means the file is not what we think it is. */
static dp_status parse_entry(parser *ps, npy_header *h)
{
	char key[NPY_MAX_STR];
	unsigned bit;
	dp_status st = parse_string(ps, key, sizeof key);

	if (st != DP_OK)
		return st;
	bit = key_bit(key);
	if (!bit)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "unknown key '%s' in the header", key);
	if (h->seen & bit)
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "duplicate key '%s' in the header", key);
	h->seen |= bit;
	if (!accept(ps, ':'))
		return syntax(ps, "':' after a key");
	if (bit == KEY_DESCR)
		return parse_descr(ps, h);
	if (bit == KEY_FORTRAN)
		return parse_bool(ps, &h->fortran);
	return parse_shape(ps, h);
}

static dp_status parse_dict(parser *ps, npy_header *h)
{
	if (!accept(ps, '{'))
		return syntax(ps, "'{'");
	while (!accept(ps, '}')) {
		dp_status st = parse_entry(ps, h);

		if (st != DP_OK)
			return st;
		if (accept(ps, ','))
			continue;
		if (accept(ps, '}'))
			break;
		return syntax(ps, "',' or '}'");
	}
	skip_space(ps);
	if (peek(ps) != '\0')
		return dp_file_fail(ps->ctx, DP_ERR_FORMAT,
			    "unexpected text after the header dict "
			    "at offset %zu", ps->pos);
	return DP_OK;
}

/* Semantic checks once the dict is known to be well formed. */
static dp_status check_header(const dp_file_ctx *c, const npy_header *h)
{
	static const struct { unsigned bit; const char *name; } keys[] = {
		{ KEY_DESCR, "descr" },
		{ KEY_FORTRAN, "fortran_order" },
		{ KEY_SHAPE, "shape" },
	};
	int64_t n = 1;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!(h->seen & keys[i].bit))
			return dp_file_fail(c, DP_ERR_FORMAT,
				    "header has no '%s' key", keys[i].name);
	if (strcmp(h->descr, "<f4") != 0)
		return dp_file_fail(c, DP_ERR_FORMAT, "dtype '%s' is not supported "
			    "(need little-endian float32 '<f4')", h->descr);
	if (h->fortran)
		return dp_file_fail(c, DP_ERR_FORMAT, "fortran_order True is not "
			    "supported (need C order)");
	/* Stop multiplying once past the limit: every size is then at most
	 * INT64_MAX and the running product at most 2^28, but checking
	 * against the quotient keeps this safe for any limit. */
	for (int i = 0; i < h->ndim; i++) {
		if (h->shape[i] > DP_MAX_ELEMS / n)
			return dp_file_fail(c, DP_ERR_FORMAT, "shape has more than "
				    "%lld elements (the DP_MAX_ELEMS limit)",
				    (long long)DP_MAX_ELEMS);
		n *= h->shape[i];
	}
	return DP_OK;
}

/* ------------------------------------------------------------------ */
/* Reader.                                                             */
/* ------------------------------------------------------------------ */

/* Magic, version and header length: the fixed-size start of the file. */
static dp_status read_preamble(FILE *fp, const dp_file_ctx *c, uint32_t *hlen)
{
	unsigned char b[12];
	size_t n = fread(b, 1, 8, fp), lsize;

	if (n < 8 && ferror(fp))
		return dp_file_fail_io(c, "read failed", errno);
	if (n == 0)
		return dp_file_fail(c, DP_ERR_FORMAT, "file is empty, not a .npy file");
	if (memcmp(b, NPY_MAGIC, n < NPY_MAGIC_LEN ? n : NPY_MAGIC_LEN) != 0)
		return dp_file_fail(c, DP_ERR_FORMAT,
			    "not a .npy file (bad magic bytes)");
	if (n < 8)
		return dp_file_fail(c, DP_ERR_FORMAT,
			    "file is too short (%zu bytes) for a .npy file", n);
	if (b[6] < 1 || b[6] > 3 || b[7] != 0)
		return dp_file_fail(c, DP_ERR_FORMAT, ".npy format version %u.%u is "
			    "not supported (need 1.0, 2.0 or 3.0)",
			    (unsigned)b[6], (unsigned)b[7]);
	lsize = b[6] == 1 ? 2 : 4;
	n = fread(b + 8, 1, lsize, fp);
	if (n < lsize)
		return ferror(fp) ? dp_file_fail_io(c, "read failed", errno) :
			dp_file_fail(c, DP_ERR_FORMAT,
			     "file ends inside the header length field");
	/* Assembled byte by byte, so independent of the host byte order. */
	*hlen = (uint32_t)b[8] | (uint32_t)b[9] << 8;
	if (lsize == 4)
		*hlen |= (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
	return DP_OK;
}

/* The header text, NUL-terminated for the parser, in *text (malloc'd). */
static dp_status read_header(FILE *fp, const dp_file_ctx *c, uint32_t hlen,
			     char **text)
{
	char *buf;
	size_t got;

	*text = NULL;
	if (hlen > NPY_MAX_HEADER)
		return dp_file_fail(c, DP_ERR_FORMAT, "header length %lu is larger "
			    "than the %d-byte limit", (unsigned long)hlen,
			    NPY_MAX_HEADER);
	buf = malloc((size_t)hlen + 1);
	if (!buf)
		return dp_file_fail_nomem(c, (size_t)hlen + 1);
	got = fread(buf, 1, hlen, fp);
	if (got < hlen) {
		int err = errno;
		int bad = ferror(fp);

		free(buf);
		if (bad)
			return dp_file_fail_io(c, "read failed", err);
		return dp_file_fail(c, DP_ERR_FORMAT, "header length %lu runs past "
			    "the end of the file (only %zu bytes follow)",
			    (unsigned long)hlen, got);
	}
	buf[hlen] = '\0';
	/* The parser relies on the terminator being the only NUL. */
	if (memchr(buf, '\0', hlen)) {
		free(buf);
		return dp_file_fail(c, DP_ERR_FORMAT, "header contains a NUL byte");
	}
	if (hlen == 0 || buf[hlen - 1] != '\n') {
		free(buf);
		return dp_file_fail(c, DP_ERR_FORMAT,
			    "header does not end with a newline");
	}
	*text = buf;
	return DP_OK;
}

/* Exactly nbytes of data, then end of file: a short file is truncated and
 * a long one carries bytes we would otherwise silently ignore. */
static dp_status read_data(FILE *fp, const dp_file_ctx *c, size_t nbytes,
			   float **data)
{
	float *d;
	size_t got;
	struct stat sb;
	long pos = ftell(fp);

	*data = NULL;
	/* A regular file that is too short is refused before allocating what
	 * its header claims (up to 1 GiB for a 100-byte file). */
	if (pos >= 0 && fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)(sb.st_size - pos) < nbytes)
		return dp_file_fail(c, DP_ERR_FORMAT, "data is truncated: the "
		                    "shape needs %zu bytes but only %lld follow "
		                    "the header", nbytes,
		                    (long long)(sb.st_size - pos));
	d = malloc(nbytes);
	if (!d)
		return dp_file_fail_nomem(c, nbytes);
	got = fread(d, 1, nbytes, fp);
	if (got == nbytes && fgetc(fp) != EOF) {
		free(d);
		return dp_file_fail(c, DP_ERR_FORMAT, "file has trailing bytes after "
			    "the %zu bytes of data", nbytes);
	}
	if (ferror(fp)) {
		int err = errno;

		free(d);
		return dp_file_fail_io(c, "read failed", err);
	}
	if (got < nbytes) {
		free(d);
		return dp_file_fail(c, DP_ERR_FORMAT, "data is truncated: the shape "
			    "needs %zu bytes but only %zu follow the header",
			    nbytes, got);
	}
	*data = d;
	return DP_OK;
}

static dp_status read_npy(FILE *fp, const dp_file_ctx *c, dp_array *out)
{
	npy_header h;
	uint32_t hlen = 0; /* set on success; gcc cannot tell */
	char *text;
	parser ps;
	dp_status st;

	st = read_preamble(fp, c, &hlen);
	if (st == DP_OK)
		st = read_header(fp, c, hlen, &text);
	if (st != DP_OK)
		return st;
	memset(&h, 0, sizeof h);
	ps.s = text;
	ps.pos = 0;
	ps.ctx = c;
	st = parse_dict(&ps, &h);
	free(text);
	if (st == DP_OK)
		st = check_header(c, &h);
	if (st != DP_OK)
		return st;
	/* check_header bounded the count by DP_MAX_ELEMS, so the byte
	 * count cannot overflow size_t (see the static assertion). */
	st = read_data(fp, c, (size_t)count_elems(h.ndim, h.shape) *
		       sizeof(float), &out->data);
	if (st != DP_OK)
		return st;
	out->ndim = h.ndim;
	memcpy(out->shape, h.shape, sizeof out->shape);
	return DP_OK;
}

dp_status dp_npy_read(const char *path, dp_array *out, char *msg,
		      size_t msg_len)
{
	dp_file_ctx c = { path, msg, msg_len };
	dp_status st;
	FILE *fp;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!out)
		return dp_file_fail(&c, DP_ERR_ARG, "no output array given");
	memset(out, 0, sizeof *out);
	if (!path)
		return dp_file_fail(&c, DP_ERR_ARG, "no path given");
	fp = fopen(path, "rb");
	if (!fp)
		return dp_file_fail_io(&c, "cannot open for reading", errno);
	st = read_npy(fp, &c, out);
	/* Closing a stream that was only read cannot lose data. */
	fclose(fp);
	return st;
}

/* ------------------------------------------------------------------ */
/* Writer.                                                             */
/* ------------------------------------------------------------------ */

/* Enough for the preamble and a dict with 8 sizes of up to 19 digits,
 * padded to the next multiple of 64. */
#define NPY_HEADER_BUF 384

/* Reject what the reader would reject, so a file written here can always
 * be read back. */
static dp_status check_array(const dp_file_ctx *c, const dp_array *a)
{
	int64_t n;

	if (!a)
		return dp_file_fail(c, DP_ERR_ARG, "no array given");
	if (a->ndim < 0 || a->ndim > NPY_MAX_NDIM)
		return dp_file_fail(c, DP_ERR_ARG, "ndim %d is out of range (0..%d)",
			    a->ndim, NPY_MAX_NDIM);
	for (int i = 0; i < a->ndim; i++)
		if (a->shape[i] < 1)
			return dp_file_fail(c, DP_ERR_ARG, "size %lld of dimension %d "
				    "is not positive",
				    (long long)a->shape[i], i);
	n = count_elems(a->ndim, a->shape);
	if (n < 0 || n > DP_MAX_ELEMS)
		return dp_file_fail(c, DP_ERR_ARG, "array has more than %lld elements "
			    "(the DP_MAX_ELEMS limit)",
			    (long long)DP_MAX_ELEMS);
	if (!a->data)
		return dp_file_fail(c, DP_ERR_ARG, "array has no data");
	return DP_OK;
}

/* Append printf output to buf, tracking the length; returns 0 once the
 * buffer would overflow. */
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= cap)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - *len)
		return 0;
	*len += (size_t)n;
	return 1;
}

/* The complete version 1.0 header, in the exact form numpy writes:
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", padded
 * with spaces so that the data starts on a 64-byte boundary (numpy's
 * alignment, which lets readers map the data directly). */
static size_t format_header(const dp_array *a, char *buf, size_t cap)
{
	size_t len = NPY_MAGIC_LEN + 4, hlen;
	int ok = append(buf, cap, &len, "{'descr': '<f4', 'fortran_order': "
		    "False, 'shape': (");
	for (int i = 0; ok && i < a->ndim; i++)
		ok = append(buf, cap, &len, "%lld%s", (long long)a->shape[i],
			    a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
	ok = ok && append(buf, cap, &len, "), }");
	while (ok && (len + 1) % 64 != 0)
		ok = append(buf, cap, &len, " ");
	ok = ok && append(buf, cap, &len, "\n");
	if (!ok)
		return 0;
	memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
	buf[6] = 1;
	buf[7] = 0;
	hlen = len - (NPY_MAGIC_LEN + 4);
	buf[8] = (char)(hlen & 0xff);
	buf[9] = (char)(hlen >> 8);
	return len;
}

/* Header and data, flushed so that a full disk shows up here. Returns 0
 * or -1 with errno set. */
struct npy_out {
	const char *hdr;
	size_t hdr_len;
	const dp_array *a;
	size_t nbytes;
};

/* The header then the data, into fd (see dp_file_filler). */
static dp_status fill_npy(const dp_file_ctx *c, int fd, int sync, void *arg)
{
	const struct npy_out *o = arg;
	FILE *fp = fdopen(fd, "wb");
	int err;

	if (!fp) {
		err = errno;
		close(fd);
		return dp_file_fail_io(c, "cannot open the output stream", err);
	}
	if (fwrite(o->hdr, 1, o->hdr_len, fp) != o->hdr_len ||
	    fwrite(o->a->data, 1, o->nbytes, fp) != o->nbytes ||
	    fflush(fp) != 0 || (sync && fsync(fileno(fp)) != 0)) {
		err = errno;
		fclose(fp);
		return dp_file_fail_io(c, "write failed", err);
	}
	if (fclose(fp) != 0)
		return dp_file_fail_io(c, "write failed", errno);
	return DP_OK;
}

dp_status dp_npy_write(const char *path, const dp_array *a, char *msg,
		       size_t msg_len)
{
	dp_file_ctx c = { path, msg, msg_len };
	char hdr[NPY_HEADER_BUF];
	struct npy_out o;
	dp_status st;

	if (msg && msg_len)
		msg[0] = '\0';
	if (!path)
		return dp_file_fail(&c, DP_ERR_ARG, "no path given");
	st = check_array(&c, a);
	if (st != DP_OK)
		return st;
	o.hdr = hdr;
	o.hdr_len = format_header(a, hdr, sizeof hdr);
	if (o.hdr_len == 0)
		return dp_file_fail(&c, DP_ERR_ARG, "shape does not fit in a header");
	o.a = a;
	o.nbytes = (size_t)dp_array_elems(a) * sizeof(float);
	return dp_file_write(&c, fill_npy, &o);
}
