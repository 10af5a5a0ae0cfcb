/* report.c - make report: docs/REPORT.md from the committed results.
 *
 *   report [--root DIR] [-o FILE | -o -]
 *
 * Reads only files, runs nothing: the CSVs and logs under docs/data/
 * (written by make bench-conv, bench-matmul, study-svd, study-mnist and,
 * when it exists, the precision study), the plots under docs/, and the
 * hand-written parts under docs/report/. The outline
 * docs/report/REPORT.md.in is copied line by line, except lines that
 * start with '@':
 *
 *   @include FILE     the hand-written fragment docs/report/FILE
 *   @table NAME       a table generated from the CSVs (names: conv,
 *                     conv-algos, matmul, svd-bench, svd-rank, svd-speed,
 *                     mnist-train, mnist-accuracy, mnist-runtime,
 *                     precision, sources)
 *   @image FILE ALT   ![ALT](FILE), FILE relative to docs/; a note instead
 *                     when the plot is missing
 *   @# ...            a comment, dropped
 *
 * In the outline and in the fragments, {{key}} is replaced by a number
 * computed from the CSVs while the tables are made (for example
 * {{conv.c64_h56_k64_3x3.vs_onednn}}), so the commentary quotes exactly
 * what the committed data say and follows it when the data are rerun; an
 * unknown key is an error. `report --keys` lists every key with its
 * value.
 *
 * A missing CSV gives a note in its section (and a warning on stderr); a
 * CSV without a column the report needs, an unknown directive or key is
 * an error (exit 1) and nothing is written. The output is a function of
 * the input files only (no dates, no paths, C locale), so the same inputs
 * give the same bytes; it is written to FILE.tmp.PID and renamed.
 *
 * Why C and not sh + awk: the CSVs have quoted fields with commas, the
 * number formatting must not depend on which awk (mawk or gawk) is
 * installed, and a C program is built and checked (-Wall -Wextra -Werror,
 * gcc and clang) like the rest of the project; it needs only libc. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ---- */

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("report: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

/* ---- growing strings ---- */

typedef struct sbuf {
	char *s;
	size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("formatting failed");
	if ((size_t)n < sizeof tmp) {
		sb_add(b, tmp, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

/* ---- files ---- */

static const char *root = ".";

static const char *rpath(const char *rel)
{
	static char buf[4][4096];
	static int i;
	char *p = buf[i++ & 3];
	snprintf(p, sizeof buf[0], "%s/%s", root, rel);
	return p;
}

/* Whole file, NUL-terminated; NULL if it does not exist (other errors
 * are fatal). */
static char *slurp_file(const char *rel)
{
	const char *path = rpath(rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT)
			return NULL;
		die("%s: %s", path, strerror(errno));
	}
	sbuf b = { 0 };
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		sb_add(&b, tmp, n);
	if (ferror(f))
		die("%s: read error", path);
	fclose(f);
	if (!b.s)
		sb_add(&b, "", 0);
	return b.s;
}

static int file_exists(const char *rel)
{
	struct stat st;
	return stat(rpath(rel), &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- CSV (RFC 4180: quoted fields, "" inside quotes) ---- */

typedef struct csv {
	const char *name;    /* relative path, for messages */
	int ncol, nrow;
	char **head;
	char ***row;         /* row[r][c] */
} csv;

/* Parse text into t; header = first record. Dies on a malformed file. */
static void csv_parse(csv *t, const char *name, const char *text)
{
	int cap = 0;
	char **fields = NULL;
	int nf = 0, fcap = 0, line = 1;
	sbuf cell = { 0 };
	const char *p = text;
	memset(t, 0, sizeof *t);
	t->name = name;
	for (;;) {
		/* one field */
		cell.len = 0;
		sb_add(&cell, "", 0);
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p)
					die("%s:%d: unterminated quoted field", name, line);
				if (*p == '"' && p[1] == '"') {
					sb_add(&cell, "\"", 1);
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					line += *p == '\n';
					sb_add(&cell, p++, 1);
				}
			}
		} else {
			size_t n = strcspn(p, ",\r\n");
			sb_add(&cell, p, n);
			p += n;
		}
		if (nf == fcap) {
			fcap = fcap ? fcap * 2 : 16;
			fields = xrealloc(fields, (size_t)fcap * sizeof *fields);
		}
		fields[nf++] = xstrdup(cell.s);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\r')
			p++;
		if (*p && *p != '\n')
			die("%s:%d: text after a quoted field", name, line);
		/* end of record */
		if (!(nf == 1 && fields[0][0] == '\0')) {   /* skip blank lines */
			if (!t->head) {
				t->head = fields;
				t->ncol = nf;
			} else {
				if (nf != t->ncol)
					die("%s:%d: %d fields, the header has %d", name, line,
					    nf, t->ncol);
				if (t->nrow == cap) {
					cap = cap ? cap * 2 : 64;
					t->row = xrealloc(t->row, (size_t)cap * sizeof *t->row);
				}
				t->row[t->nrow++] = fields;
			}
			fields = NULL;
			fcap = 0;
		} else {
			free(fields[0]);
		}
		nf = 0;
		if (!*p)
			break;
		p++;
		line++;
		if (!*p)
			break;
	}
	free(fields);
	free(cell.s);
	if (!t->head)
		die("%s: empty file", name);
}

/* Load docs/data/NAME; 0 when the file does not exist. */
static int csv_load(csv *t, const char *rel)
{
	char *text = slurp_file(rel);
	if (!text) {
		fprintf(stderr, "report: warning: %s is missing; its section says "
		        "so\n", rel);
		return 0;
	}
	csv_parse(t, rel, text);
	free(text);
	return 1;
}

static int csv_col_opt(const csv *t, const char *name)
{
	for (int c = 0; c < t->ncol; c++)
		if (!strcmp(t->head[c], name))
			return c;
	return -1;
}

static int csv_col(const csv *t, const char *name)
{
	int c = csv_col_opt(t, name);
	if (c < 0)
		die("%s: no column '%s'", t->name, name);
	return c;
}

static const char *cs(const csv *t, int r, int c)
{
	return t->row[r][c];
}

/* The number in a cell; NAN when it is empty or not a number. */
static double cn(const csv *t, int r, int c)
{
	const char *s = t->row[r][c];
	char *end;
	if (!*s)
		return NAN;
	double v = strtod(s, &end);
	return *end ? NAN : v;
}

/* ---- the values the commentary may quote: {{key}} ---- */

typedef struct kv {
	char *key, *val;
} kv;
static kv *kvs;
static int nkv, kvcap;

__attribute__((format(printf, 2, 3)))
static void kv_set(const char *key, const char *fmt, ...)
{
	char val[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	for (int i = 0; i < nkv; i++)
		if (!strcmp(kvs[i].key, key)) {   /* last one wins */
			free(kvs[i].val);
			kvs[i].val = xstrdup(val);
			return;
		}
	if (nkv == kvcap) {
		kvcap = kvcap ? kvcap * 2 : 256;
		kvs = xrealloc(kvs, (size_t)kvcap * sizeof *kvs);
	}
	kvs[nkv].key = xstrdup(key);
	kvs[nkv++].val = xstrdup(val);
}

static const char *kv_get(const char *key)
{
	for (int i = 0; i < nkv; i++)
		if (!strcmp(kvs[i].key, key))
			return kvs[i].val;
	return NULL;
}

/* A key part from a label: lower case, runs of other characters -> '_'. */
static const char *slug(const char *s)
{
	static char buf[4][256];
	static int i;
	char *o = buf[i++ & 3];
	size_t n = 0;
	int sep = 0;
	for (; *s && n + 2 < sizeof buf[0]; s++) {
		char c = *s;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.') {
			if (sep && n)
				o[n++] = '_';
			o[n++] = c;
			sep = 0;
		} else if (c >= 'A' && c <= 'Z') {
			if (sep && n)
				o[n++] = '_';
			o[n++] = (char)(c - 'A' + 'a');
			sep = 0;
		} else {
			sep = 1;
		}
	}
	o[n] = '\0';
	return o;
}

/* ---- number formatting ---- */

/* A ratio "1.23x"; "-" when unknown. */
static const char *fx(double v)
{
	static char buf[8][32];
	static int i;
	char *o = buf[i++ & 7];
	if (!isfinite(v))
		return "-";
	snprintf(o, 32, v >= 100 ? "%.0fx" : v >= 10 ? "%.1fx" : "%.2fx", v);
	return o;
}

/* A time or rate with 3-4 significant digits, "-" when unknown. */
static const char *fnum(double v)
{
	static char buf[8][32];
	static int i;
	char *o = buf[i++ & 7];
	double a = fabs(v);
	if (!isfinite(v))
		return "-";
	snprintf(o, 32, a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : a >= 10 ?
	         "%.2f" : "%.3f", v);
	return o;
}

static const char *fsci(double v)
{
	static char buf[8][32];
	static int i;
	char *o = buf[i++ & 7];
	if (!isfinite(v))
		return "-";
	snprintf(o, 32, "%.1e", v);
	return o;
}

/* ---- the generated parts ---- */

#define NTABLES 16
static struct {
	const char *name;
	sbuf text;
} tables[NTABLES];
static int ntables;

static sbuf *table_new(const char *name)
{
	if (ntables == NTABLES)
		die("too many tables");
	tables[ntables].name = name;
	return &tables[ntables++].text;
}

/* Files read, for the sources table: path and row count (-1: missing). */
typedef struct src_file {
	const char *path;
	int rows;
	const char *made_by;
} src_file;
static src_file sources[32];
static int nsources;

static void source(const char *path, int rows, const char *made_by)
{
	if (nsources < 32)
		sources[nsources++] = (src_file){ xstrdup(path), rows, made_by };
}

static void missing(sbuf *b, const char *path, const char *made_by)
{
	sb_printf(b, "*(No data: `%s` is not there; `%s` writes it.)*\n", path,
	          made_by);
}

/* "dpgen winograd F(4,3) generated" -> algo "winograd", variant "F(4,3)". */
static void split_impl(const char *impl, char *algo, size_t alen,
                       char *variant, size_t vlen)
{
	const char *p = impl;
	if (!strncmp(p, "dpgen ", 6))
		p += 6;
	size_t n = strcspn(p, " ");
	snprintf(algo, alen, "%.*s", (int)n, p);
	p += n;
	while (*p == ' ')
		p++;
	const char *end = p + strlen(p);
	static const char *sfx[] = { " generated", " generic", "generated",
	                             "generic" };
	for (int i = 0; i < 4; i++) {
		size_t l = strlen(sfx[i]);
		if ((size_t)(end - p) >= l && !strcmp(end - l, sfx[i])) {
			end -= l;
			break;
		}
	}
	snprintf(variant, vlen, "%.*s", (int)(end - p), p);
}

/* ---- convolution ---- */

#define MAXLAYERS 64
static const char *conv_algos[] = { "direct", "im2col", "winograd", "fft",
                                    "fft-fftw", "im2col-blas", "onednn" };
enum { NALGO = 7 };

static void gen_conv(void)
{
	const char *path = "docs/data/bench_conv.csv", *by = "make bench-conv";
	sbuf *t1 = table_new("conv"), *t2 = table_new("conv-algos");
	csv t;
	if (!csv_load(&t, path)) {
		source(path, -1, by);
		missing(t1, path, by);
		missing(t2, path, by);
		return;
	}
	source(path, t.nrow, by);
	const int c_layer = csv_col(&t, "layer"), c_impl = csv_col(&t, "impl"),
	          c_fam = csv_col(&t, "family"), c_us = csv_col(&t, "median_us"),
	          c_gf = csv_col(&t, "gflops"), c_err = csv_col(&t, "max_abs_err"),
	          c_note = csv_col(&t, "note");
	const char *layers[MAXLAYERS];
	int nl = 0;
	for (int r = 0; r < t.nrow; r++) {
		int seen = 0;
		for (int i = 0; i < nl && !seen; i++)
			seen = !strcmp(layers[i], cs(&t, r, c_layer));
		if (!seen) {
			if (nl == MAXLAYERS)
				die("%s: more than %d layers", path, MAXLAYERS);
			layers[nl++] = cs(&t, r, c_layer);
		}
	}
	sb_puts(t1, "| layer | best dpgen kernel | time (us) | GFLOP/s | max abs "
	        "err | im2col-blas GFLOP/s | oneDNN best | GFLOP/s | max abs err "
	        "| vs im2col-blas | vs oneDNN |\n"
	        "|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|\n");
	sb_puts(t2, "| layer | direct | im2col | winograd | fft | fft-fftw "
	        "(generic) | im2col-blas (generic) | oneDNN |\n"
	        "|---|--:|--:|--:|--:|--:|--:|--:|\n");
	int wins = 0, wins_blas = 0, counted = 0;
	double lo = INFINITY, hi = 0;
	const char *lo_l = "", *hi_l = "";
	for (int l = 0; l < nl; l++) {
		int best[NALGO], bestgen = -1, blas = -1, dnn = -1;
		for (int a = 0; a < NALGO; a++)
			best[a] = -1;
		for (int r = 0; r < t.nrow; r++) {
			if (strcmp(cs(&t, r, c_layer), layers[l]))
				continue;
			double us = cn(&t, r, c_us);
			if (!isfinite(us))
				continue;
			const char *fam = cs(&t, r, c_fam);
			char algo[64], var[64];
			split_impl(cs(&t, r, c_impl), algo, sizeof algo, var, sizeof var);
			int a = -1;
			if (!strcmp(fam, "onednn"))
				a = 6;
			else if (!strcmp(fam, "im2col-blas"))
				a = 5;
			else if (!strcmp(algo, "fft-fftw"))
				a = 4;
			else if (!strcmp(fam, "dpgen generated"))
				for (int i = 0; i < 4; i++)
					if (!strcmp(algo, conv_algos[i]))
						a = i;
			if (a < 0)
				continue;
			if (best[a] < 0 || us < cn(&t, best[a], c_us))
				best[a] = r;
			if (a < 4 && (bestgen < 0 || us < cn(&t, bestgen, c_us)))
				bestgen = r;
		}
		blas = best[5];
		dnn = best[6];
		char ls[256], key[512], algo[64], var[64], dnnname[128];
		snprintf(ls, sizeof ls, "%s", slug(layers[l]));
		/* the algorithm map, with per-cell keys */
		double top = 0;
		for (int a = 0; a < NALGO; a++)
			if (best[a] >= 0 && cn(&t, best[a], c_gf) > top)
				top = cn(&t, best[a], c_gf);
		sb_printf(t2, "| %s |", layers[l]);
		for (int a = 0; a < NALGO; a++) {
			if (best[a] < 0) {
				sb_puts(t2, " - |");
				continue;
			}
			double gf = cn(&t, best[a], c_gf);
			split_impl(cs(&t, best[a], c_impl), algo, sizeof algo, var,
			           sizeof var);
			int b = gf == top;
			sb_printf(t2, " %s%s%s%s%s%s |", b ? "**" : "", fnum(gf),
			          b ? "**" : "", var[0] ? " (" : "", var,
			          var[0] ? ")" : "");
			snprintf(key, sizeof key, "conv.%s.%s.gflops", ls,
			         slug(conv_algos[a]));
			kv_set(key, "%s", fnum(gf));
			snprintf(key, sizeof key, "conv.%s.%s.err", ls,
			         slug(conv_algos[a]));
			kv_set(key, "%s", fsci(cn(&t, best[a], c_err)));
			snprintf(key, sizeof key, "conv.%s.%s.us", ls,
			         slug(conv_algos[a]));
			kv_set(key, "%s", fnum(cn(&t, best[a], c_us)));
		}
		sb_puts(t2, "\n");
		if (bestgen < 0)
			continue;
		/* the headline table */
		split_impl(cs(&t, bestgen, c_impl), algo, sizeof algo, var,
		           sizeof var);
		char kname[128];
		snprintf(kname, sizeof kname, "%s%s%s", algo, var[0] ? " " : "", var);
		double tb = blas >= 0 ? cn(&t, blas, c_us) : NAN;
		double td = dnn >= 0 ? cn(&t, dnn, c_us) : NAN;
		double tg = cn(&t, bestgen, c_us);
		double vs_blas = tb / tg, vs_dnn = td / tg;
		dnnname[0] = '\0';
		if (dnn >= 0) {
			const char *impl = cs(&t, dnn, c_impl), *note = cs(&t, dnn, c_note);
			const char *pk = strstr(note, "picked ");
			if (!strncmp(impl, "onednn ", 7))
				impl += 7;
			if (pk)
				snprintf(dnnname, sizeof dnnname, "%s (%.*s)", impl,
				         (int)strcspn(pk + 7, ",;"), pk + 7);
			else
				snprintf(dnnname, sizeof dnnname, "%s", impl);
		}
		sb_printf(t1, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
		          "%s%s%s |\n", layers[l], kname, fnum(tg),
		          fnum(cn(&t, bestgen, c_gf)), fsci(cn(&t, bestgen, c_err)),
		          blas >= 0 ? fnum(cn(&t, blas, c_gf)) : "-",
		          dnn >= 0 ? dnnname : "-",
		          dnn >= 0 ? fnum(cn(&t, dnn, c_gf)) : "-",
		          dnn >= 0 ? fsci(cn(&t, dnn, c_err)) : "-", fx(vs_blas),
		          vs_dnn < 1 ? "**" : "", fx(vs_dnn), vs_dnn < 1 ? "**" : "");
		snprintf(key, sizeof key, "conv.%s.best", ls);
		kv_set(key, "%s", kname);
		snprintf(key, sizeof key, "conv.%s.gflops", ls);
		kv_set(key, "%s", fnum(cn(&t, bestgen, c_gf)));
		snprintf(key, sizeof key, "conv.%s.vs_blas", ls);
		kv_set(key, "%s", fx(vs_blas));
		snprintf(key, sizeof key, "conv.%s.vs_onednn", ls);
		kv_set(key, "%s", fx(vs_dnn));
		snprintf(key, sizeof key, "conv.%s.onednn", ls);
		kv_set(key, "%s", dnnname[0] ? dnnname : "-");
		if (isfinite(vs_dnn)) {
			counted++;
			wins += vs_dnn >= 1;
			if (vs_dnn < lo) {
				lo = vs_dnn;
				lo_l = layers[l];
			}
			if (vs_dnn > hi) {
				hi = vs_dnn;
				hi_l = layers[l];
			}
		}
		wins_blas += vs_blas >= 1;
	}
	kv_set("conv.layers", "%d", nl);
	kv_set("conv.onednn_layers", "%d", counted);
	kv_set("conv.beats_onednn", "%d", wins);
	kv_set("conv.beats_blas", "%d", wins_blas);
	kv_set("conv.min_vs_onednn", "%s", fx(lo));
	kv_set("conv.min_vs_onednn_layer", "%s", lo_l);
	kv_set("conv.max_vs_onednn", "%s", fx(hi));
	kv_set("conv.max_vs_onednn_layer", "%s", hi_l);
}

/* ---- GEMM against OpenBLAS ---- */

static void gen_matmul(void)
{
	const char *path = "docs/data/bench_matmul.csv", *by = "make bench-matmul";
	sbuf *b = table_new("matmul");
	csv t;
	if (!csv_load(&t, path)) {
		source(path, -1, by);
		missing(b, path, by);
		return;
	}
	source(path, t.nrow, by);
	const int c_shape = csv_col(&t, "shape"), c_m = csv_col(&t, "m"),
	          c_k = csv_col(&t, "k"), c_n = csv_col(&t, "n"),
	          c_impl = csv_col(&t, "impl"), c_us = csv_col(&t, "median_us"),
	          c_gf = csv_col(&t, "gflops");
	sb_puts(b, "| problem | M x K x N | OpenBLAS GFLOP/s | generated GFLOP/s "
	        "| generated vs OpenBLAS | generic vs OpenBLAS |\n"
	        "|---|---|--:|--:|--:|--:|\n");
	double lo = INFINITY, hi = 0;
	char lo_s[64] = "", hi_s[64] = "";
	int n = 0, ge1 = 0;
	for (int r = 0; r < t.nrow; r++) {
		if (strcmp(cs(&t, r, c_impl), "openblas"))
			continue;
		int gen = -1, gnc = -1;
		for (int q = 0; q < t.nrow; q++)
			if (!strcmp(cs(&t, q, c_shape), cs(&t, r, c_shape)) &&
			    !strcmp(cs(&t, q, c_m), cs(&t, r, c_m)) &&
			    !strcmp(cs(&t, q, c_k), cs(&t, r, c_k)) &&
			    !strcmp(cs(&t, q, c_n), cs(&t, r, c_n))) {
				if (!strcmp(cs(&t, q, c_impl), "generated"))
					gen = q;
				else if (!strcmp(cs(&t, q, c_impl), "generic"))
					gnc = q;
			}
		double tb = cn(&t, r, c_us);
		double vg = gen >= 0 ? tb / cn(&t, gen, c_us) : NAN;
		double vc = gnc >= 0 ? tb / cn(&t, gnc, c_us) : NAN;
		char dims[64];
		snprintf(dims, sizeof dims, "%sx%sx%s", cs(&t, r, c_m),
		         cs(&t, r, c_k), cs(&t, r, c_n));
		sb_printf(b, "| %s | %s | %s | %s | %s%s%s | %s |\n",
		          cs(&t, r, c_shape), dims, fnum(cn(&t, r, c_gf)),
		          gen >= 0 ? fnum(cn(&t, gen, c_gf)) : "-", vg < 1 ? "**" : "",
		          fx(vg), vg < 1 ? "**" : "", fx(vc));
		char key[128];
		snprintf(key, sizeof key, "matmul.%s.vs_openblas", dims);
		kv_set(key, "%s", fx(vg));
		snprintf(key, sizeof key, "matmul.%s.gflops", dims);
		kv_set(key, "%s", gen >= 0 ? fnum(cn(&t, gen, c_gf)) : "-");
		if (isfinite(vg)) {
			n++;
			ge1 += vg >= 1;
			if (vg < lo) {
				lo = vg;
				snprintf(lo_s, sizeof lo_s, "%s", dims);
			}
			if (vg > hi) {
				hi = vg;
				snprintf(hi_s, sizeof hi_s, "%s", dims);
			}
		}
	}
	kv_set("matmul.problems", "%d", n);
	kv_set("matmul.at_least_openblas", "%d", ge1);
	kv_set("matmul.min_vs_openblas", "%s", fx(lo));
	kv_set("matmul.min_vs_openblas_shape", "%s", lo_s);
	kv_set("matmul.max_vs_openblas", "%s", fx(hi));
	kv_set("matmul.max_vs_openblas_shape", "%s", hi_s);
}

/* ---- the fused svd kernel, bench-matmul ---- */

static void gen_svd_bench(void)
{
	const char *path = "docs/data/bench_svd.csv", *by = "make bench-matmul";
	sbuf *b = table_new("svd-bench");
	csv t;
	if (!csv_load(&t, path)) {
		source(path, -1, by);
		missing(b, path, by);
		return;
	}
	source(path, t.nrow, by);
	const int c_m = csv_col(&t, "m"), c_k = csv_col(&t, "k"),
	          c_n = csv_col(&t, "n"), c_rank = csv_col(&t, "rank"),
	          c_ideal = csv_col(&t, "ideal"), c_svd = csv_col(&t, "svd_us"),
	          c_gen = csv_col(&t, "svd_generic_us"),
	          c_gemm = csv_col(&t, "gemm_us"),
	          c_vg = csv_col(&t, "speedup_vs_gemm"),
	          c_vb = csv_col(&t, "speedup_vs_openblas"),
	          c_fr = csv_col(&t, "fraction_of_ideal");
	sb_puts(b, "| M x K x N | rank k | FLOP speedup | fused svd (us) | "
	        "generic svd (us) | dense GEMM (us) | vs GEMM | vs OpenBLAS | "
	        "of FLOP speedup |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	int n2 = 0, n70 = 0;
	double lo = INFINITY, glo = INFINITY, ghi = 0;
	char lo_s[96] = "";
	for (int r = 0; r < t.nrow; r++) {
		double ideal = cn(&t, r, c_ideal), fr = cn(&t, r, c_fr);
		double gx = cn(&t, r, c_gen) / cn(&t, r, c_svd);
		if (isfinite(gx)) {
			glo = gx < glo ? gx : glo;
			ghi = gx > ghi ? gx : ghi;
		}
		sb_printf(b, "| %sx%sx%s | %s | %s | %s | %s | %s | %s | %s | "
		          "%.0f%% |\n", cs(&t, r, c_m), cs(&t, r, c_k), cs(&t, r, c_n),
		          cs(&t, r, c_rank), fx(ideal), fnum(cn(&t, r, c_svd)),
		          fnum(cn(&t, r, c_gen)), fnum(cn(&t, r, c_gemm)),
		          fx(cn(&t, r, c_vg)), fx(cn(&t, r, c_vb)), 100 * fr);
		if (ideal >= 2) {
			n2++;
			n70 += fr >= 0.7;
			if (fr < lo) {
				lo = fr;
				snprintf(lo_s, sizeof lo_s, "%sx%sx%s rank %s",
				         cs(&t, r, c_m), cs(&t, r, c_k), cs(&t, r, c_n),
				         cs(&t, r, c_rank));
			}
		}
	}
	kv_set("svdbench.rows_ideal2", "%d", n2);
	kv_set("svdbench.rows_70pct", "%d", n70);
	kv_set("svdbench.min_fraction", "%.0f%%", 100 * lo);
	kv_set("svdbench.min_fraction_at", "%s", lo_s);
	kv_set("svdbench.generic_slower_min", "%s", fx(glo));
	kv_set("svdbench.generic_slower_max", "%s", fx(ghi));
}

/* ---- the SVD rank study ---- */

#define MAXMAT 32
static void gen_svd_rank(void)
{
	const char *pe = "docs/data/svd_rank_error.csv",
	           *ps = "docs/data/svd_spectrum.csv", *by = "make study-svd";
	sbuf *b = table_new("svd-rank");
	csv e, s;
	int he = csv_load(&e, pe), hs = csv_load(&s, ps);
	source(pe, he ? e.nrow : -1, by);
	source(ps, hs ? s.nrow : -1, by);
	if (!he) {
		missing(b, pe, by);
		return;
	}
	const int c_mat = csv_col(&e, "matrix"), c_rank = csv_col(&e, "rank"),
	          c_err = csv_col(&e, "rel_error"),
	          c_fl = csv_col(&e, "rel_error_float");
	int s_mat = -1, s_norm = -1;
	if (hs) {
		s_mat = csv_col(&s, "matrix");
		s_norm = csv_col(&s, "sigma_normalized");
	}
	sb_puts(b, "| matrix | full rank | rank for 10% | rank for 1% | rank for "
	        "0.1% | 1% as share of full | sigma_min / sigma_1 | float check |\n"
	        "|---|--:|--:|--:|--:|--:|--:|--:|\n");
	const char *mats[MAXMAT];
	int nm = 0;
	for (int r = 0; r < e.nrow; r++)
		if (nm == 0 || strcmp(mats[nm - 1], cs(&e, r, c_mat))) {
			if (nm == MAXMAT)
				die("%s: more than %d matrices", pe, MAXMAT);
			mats[nm++] = cs(&e, r, c_mat);
		}
	for (int i = 0; i < nm; i++) {
		static const double tol[3] = { 0.1, 0.01, 0.001 };
		int k[3] = { 0, 0, 0 }, full = 0;
		double worst = 0;
		for (int r = 0; r < e.nrow; r++) {
			if (strcmp(cs(&e, r, c_mat), mats[i]))
				continue;
			int rank = atoi(cs(&e, r, c_rank));
			double v = cn(&e, r, c_err), f = cn(&e, r, c_fl);
			if (rank > full)
				full = rank;
			for (int j = 0; j < 3; j++)
				if (!k[j] && v <= tol[j])
					k[j] = rank;
			if (isfinite(f) && v > 1e-4 && fabs(f - v) / v > worst)
				worst = fabs(f - v) / v;
		}
		for (int j = 0; j < 3; j++)
			if (!k[j])
				k[j] = full;
		double smin = NAN;
		for (int r = 0; hs && r < s.nrow; r++)
			if (!strcmp(cs(&s, r, s_mat), mats[i]))
				smin = cn(&s, r, s_norm);    /* the last one */
		sb_printf(b, "| %s | %d | %d | %d | %d | %.0f%% | %s | %s |\n",
		          mats[i], full, k[0], k[1], k[2], 100.0 * k[1] / full,
		          fsci(smin), fsci(worst));
		char ms[256], key[512];
		snprintf(ms, sizeof ms, "%s", slug(mats[i]));
		snprintf(key, sizeof key, "svd.%s.full", ms);
		kv_set(key, "%d", full);
		snprintf(key, sizeof key, "svd.%s.k10", ms);
		kv_set(key, "%d", k[0]);
		snprintf(key, sizeof key, "svd.%s.k1", ms);
		kv_set(key, "%d", k[1]);
		snprintf(key, sizeof key, "svd.%s.k01", ms);
		kv_set(key, "%d", k[2]);
		snprintf(key, sizeof key, "svd.%s.k1_share", ms);
		kv_set(key, "%.0f%%", 100.0 * k[1] / full);
	}
	kv_set("svd.matrices", "%d", nm);
}

/* ---- SVD speed vs rank (study-svd) ---- */

static void gen_svd_speed(void)
{
	const char *path = "docs/data/svd_speed.csv", *by = "make study-svd";
	sbuf *b = table_new("svd-speed");
	csv t;
	if (!csv_load(&t, path)) {
		source(path, -1, by);
		missing(b, path, by);
		return;
	}
	source(path, t.nrow, by);
	const int c_w = csv_col(&t, "weights"), c_m = csv_col(&t, "m"),
	          c_k = csv_col(&t, "k"), c_n = csv_col(&t, "n"),
	          c_rank = csv_col(&t, "rank"), c_fl = csv_col(&t, "flop_speedup"),
	          c_svd = csv_col(&t, "svd_us"), c_gemm = csv_col(&t, "gemm_us"),
	          c_bl = csv_col(&t, "openblas_us"),
	          c_vg = csv_col(&t, "speedup_vs_gemm"),
	          c_vb = csv_col(&t, "speedup_vs_openblas"),
	          c_err = csv_col(&t, "rel_error"),
	          c_kern = csv_col_opt(&t, "svd_kernel");
	if (t.nrow == 0) {
		sb_puts(b, "*(svd_speed.csv has no rows.)*\n");
		return;
	}
	int generated = c_kern >= 0;
	for (int r = 0; generated && r < t.nrow; r++)
		generated = !strncmp(cs(&t, r, c_kern), "dp_matmul_svd_", 14);
	kv_set("svdspeed.weights", "%s", cs(&t, 0, c_w));
	kv_set("svdspeed.kernel", "%s", generated ? "the generated fused svd "
	       "kernel (one per shape and rank, made by dpgen)" :
	       "the generic runtime svd kernel (an older run of the study)");
	kv_set("svdspeed.k", "%s", cs(&t, 0, c_k));
	kv_set("svdspeed.n", "%s", cs(&t, 0, c_n));
	sb_printf(b, "Weights: %s; svd kernel: %s.\n\n", cs(&t, 0, c_w),
	          generated ? "generated by dpgen for each M and rank" :
	          "**the generic runtime kernel** (this CSV predates the "
	          "generated-kernel study)");
	sb_puts(b, "| M | rank k | FLOP speedup | fused svd (us) | dense GEMM "
	        "(us) | OpenBLAS (us) | vs GEMM | vs OpenBLAS | of FLOP speedup | "
	        "rel. error of C |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int r = 0; r < t.nrow; r++) {
		double fl = cn(&t, r, c_fl), vg = cn(&t, r, c_vg);
		sb_printf(b, "| %s | %s | %s | %s | %s | %s | %s%s%s | %s | %.0f%% | "
		          "%s |\n", cs(&t, r, c_m), cs(&t, r, c_rank), fx(fl),
		          fnum(cn(&t, r, c_svd)), fnum(cn(&t, r, c_gemm)),
		          fnum(cn(&t, r, c_bl)), vg < 1 ? "**" : "", fx(vg),
		          vg < 1 ? "**" : "", fx(cn(&t, r, c_vb)), 100 * vg / fl,
		          fsci(cn(&t, r, c_err)));
		char key[128];
		const char *m = cs(&t, r, c_m), *k = cs(&t, r, c_rank);
		snprintf(key, sizeof key, "svdspeed.m%s.r%s.vs_gemm", m, k);
		kv_set(key, "%s", fx(vg));
		snprintf(key, sizeof key, "svdspeed.m%s.r%s.vs_openblas", m, k);
		kv_set(key, "%s", fx(cn(&t, r, c_vb)));
		snprintf(key, sizeof key, "svdspeed.m%s.r%s.flop", m, k);
		kv_set(key, "%s", fx(fl));
		snprintf(key, sizeof key, "svdspeed.m%s.r%s.err", m, k);
		double e = cn(&t, r, c_err);
		if (e >= 1e-3)
			kv_set(key, "%.1f%%", 100 * e);
		else
			kv_set(key, "%.1e", e);
	}
	/* per batch: the best speedup and the largest rank that still wins */
	for (int r = 0; r < t.nrow; r++) {
		const char *m = cs(&t, r, c_m);
		int first = 1;
		for (int q = 0; q < r && first; q++)
			first = strcmp(cs(&t, q, c_m), m) != 0;
		if (!first)
			continue;
		double best = 0;
		int best_k = 0, even = 0;
		for (int q = 0; q < t.nrow; q++) {
			if (strcmp(cs(&t, q, c_m), m))
				continue;
			double vg = cn(&t, q, c_vg);
			int k = atoi(cs(&t, q, c_rank));
			if (vg > best) {
				best = vg;
				best_k = k;
			}
			if (vg >= 1 && k > even)
				even = k;
		}
		char key[128];
		snprintf(key, sizeof key, "svdspeed.m%s.best", m);
		kv_set(key, "%s", fx(best));
		snprintf(key, sizeof key, "svdspeed.m%s.best_rank", m);
		kv_set(key, "%d", best_k);
		snprintf(key, sizeof key, "svdspeed.m%s.breakeven", m);
		kv_set(key, "%d", even);
	}
}

/* ---- MNIST ---- */

/* The last "epoch ..." line's test_acc, the epoch count and the total
 * time of a training log. */
static void mnist_log(sbuf *b, const char *rel, const char *dataset)
{
	char *text = slurp_file(rel);
	const char *by = "make study-mnist";
	if (!text) {
		source(rel, -1, by);
		sb_printf(b, "| %s | - | - | - | - | (`%s` is not there) |\n",
		          dataset, rel);
		return;
	}
	int lines = 0, epochs = 0;
	double acc = NAN, tacc = NAN, secs = NAN, loss = NAN;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		int e;
		double lr, l, ta, te, tm;
		if (sscanf(line, "epoch %d lr %lf loss %lf train_acc %lf%% test_acc "
		           "%lf%% time %lfs", &e, &lr, &l, &ta, &te, &tm) == 6) {
			epochs = e;
			acc = te;
			tacc = ta;
			loss = l;
		}
		int n;
		double s;
		if (sscanf(line, "trained %d epochs in %lfs", &n, &s) == 2)
			secs = s;
		lines++;
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
	source(rel, lines, by);
	sb_printf(b, "| %s | %d | %.4f | %.2f%% | %.2f%% | %s |\n", dataset,
	          epochs, loss, tacc, acc, fnum(secs));
	char key[128];
	snprintf(key, sizeof key, "mnist.%s.test_acc", dataset);
	kv_set(key, "%.2f%%", acc);
	snprintf(key, sizeof key, "mnist.%s.epochs", dataset);
	kv_set(key, "%d", epochs);
	snprintf(key, sizeof key, "mnist.%s.train_s", dataset);
	kv_set(key, "%s", fnum(secs));
}

static void gen_mnist_train(void)
{
	sbuf *b = table_new("mnist-train");
	sb_puts(b, "| data set | epochs | last train loss | train accuracy | "
	        "test accuracy | training time (s) |\n"
	        "|---|--:|--:|--:|--:|--:|\n");
	mnist_log(b, "docs/data/mnist_train_digits.log", "digits");
	mnist_log(b, "docs/data/mnist_train_fashion.log", "fashion");
}

typedef struct mcols {
	int target, ratio, ranks, params, acc, err_all;
	int t[8];    /* dense, rebuild, factors, fused at b1 then b1000 */
	int g[6];    /* generated: dense, factors, fused at b1 then b1000 */
	int gbest[2], gx[2], acc_gen;   /* b1, b1000 */
} mcols;

static void mnist_cols(const csv *t, mcols *c)
{
	static const char *tn[8] = { "dense_b1", "rebuild_b1", "factors_b1",
	                             "fused_b1", "dense_b1000", "rebuild_b1000",
	                             "factors_b1000", "fused_b1000" };
	c->target = csv_col(t, "target");
	c->ratio = csv_col(t, "ratio");
	c->ranks = csv_col(t, "ranks");
	c->params = csv_col(t, "params");
	c->acc = csv_col(t, "acc");
	c->err_all = csv_col(t, "err_all");
	for (int i = 0; i < 8; i++)
		c->t[i] = csv_col(t, tn[i]);
	static const char *gn[6] = { "gen_dense_b1", "gen_factors_b1",
	                             "gen_fused_b1", "gen_dense_b1000",
	                             "gen_factors_b1000", "gen_fused_b1000" };
	for (int i = 0; i < 6; i++)
		c->g[i] = csv_col(t, gn[i]);
	c->gbest[0] = csv_col(t, "gen_best_b1");
	c->gbest[1] = csv_col(t, "gen_best_b1000");
	c->gx[0] = csv_col(t, "gen_speedup_b1");
	c->gx[1] = csv_col(t, "gen_speedup_b1000");
	c->acc_gen = csv_col(t, "acc_gen");
}

/* The row of t with experiment != dense and this target, or -1. */
static int mnist_row(const csv *t, const mcols *c, const char *target)
{
	int ce = csv_col(t, "experiment");
	for (int r = 0; r < t->nrow; r++)
		if (strcmp(cs(t, r, ce), "dense") &&
		    !strcmp(cs(t, r, c->target), target))
			return r;
	return -1;
}

static void gen_mnist(void)
{
	static const char *names[3] = { "truncate", "finetune", "scratch" };
	const char *by = "make study-mnist";
	sbuf *ba = table_new("mnist-accuracy"), *bt = table_new("mnist-runtime");
	csv t[3];
	mcols c[3];
	int have[3];
	char path[3][128];
	for (int i = 0; i < 3; i++) {
		snprintf(path[i], sizeof path[i], "docs/data/mnist_svd_%s.csv",
		         names[i]);
		have[i] = csv_load(&t[i], path[i]);
		source(path[i], have[i] ? t[i].nrow : -1, by);
		if (have[i])
			mnist_cols(&t[i], &c[i]);
	}
	if (!have[0]) {
		missing(ba, path[0], by);
		missing(bt, path[0], by);
		return;
	}
	const csv *T = &t[0];
	const mcols *C = &c[0];
	int ce = csv_col(T, "experiment"), dense = -1;
	for (int r = 0; r < T->nrow; r++)
		if (!strcmp(cs(T, r, ce), "dense"))
			dense = r;
	sb_puts(ba, "| target ratio | ratio | ranks (layers 1/2/3) | parameters | "
	        "truncated | truncated + 1 epoch | trained factorized | weight "
	        "error (truncated) |\n|--:|--:|---|--:|--:|--:|--:|--:|\n");
	if (dense >= 0) {
		sb_printf(ba, "| dense | 1 | full | %s | %s%% | | | 0 |\n",
		          cs(T, dense, C->params), cs(T, dense, C->acc));
		kv_set("mnist.dense.acc", "%s%%", cs(T, dense, C->acc));
		kv_set("mnist.dense.params", "%s", cs(T, dense, C->params));
	}
	for (int r = 0; r < T->nrow; r++) {
		if (r == dense)
			continue;
		const char *tg = cs(T, r, C->target);
		char acc[3][32];
		for (int i = 0; i < 3; i++) {
			int q = have[i] ? mnist_row(&t[i], &c[i], tg) : -1;
			snprintf(acc[i], sizeof acc[i], "%s%s",
			         q >= 0 ? cs(&t[i], q, c[i].acc) : "-", q >= 0 ? "%" : "");
			char key[128];
			snprintf(key, sizeof key, "mnist.%s.acc_%s", tg, names[i]);
			kv_set(key, "%s", acc[i]);
		}
		sb_printf(ba, "| %s | %s | %s | %s | %s | %s | %s | %.3f |\n", tg,
		          cs(T, r, C->ratio), cs(T, r, C->ranks),
		          cs(T, r, C->params), acc[0], acc[1], acc[2],
		          cn(T, r, C->err_all));
		char key[128];
		snprintf(key, sizeof key, "mnist.%s.ranks", tg);
		kv_set(key, "%s", cs(T, r, C->ranks));
		snprintf(key, sizeof key, "mnist.%s.params", tg);
		kv_set(key, "%s", cs(T, r, C->params));
		snprintf(key, sizeof key, "mnist.%s.ratio", tg);
		kv_set(key, "%s", cs(T, r, C->ratio));
		snprintf(key, sizeof key, "mnist.%s.weight_err", tg);
		kv_set(key, "%.2f", cn(T, r, C->err_all));
	}
	/* runtime, generated kernels: the truncation run, each row's dense,
	 * two-GEMM and fused forwards timed round by round */
	sb_puts(bt, "Kernels generated by dpgen for each layer's exact shape "
	        "(the dense model: one generated GEMM per layer; compressed: "
	        "two generated GEMMs or the generated fused svd kernel per "
	        "factorized layer). \"vs dense\": the faster of the two "
	        "against the dense model, the median of the ratios of "
	        "rounds timed back to back.\n\n");
	sb_puts(bt, "| target ratio | ranks | b=1 dense | b=1 two GEMMs | b=1 "
	        "fused | b=1 vs dense | b=1000 dense | b=1000 two GEMMs | "
	        "b=1000 fused | b=1000 vs dense |\n"
	        "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int r = 0; r < T->nrow; r++) {
		const char *tg = r == dense ? "dense" : cs(T, r, C->target);
		sb_printf(bt, "| %s | %s |", tg, cs(T, r, C->ranks));
		for (int h = 0; h < 2; h++) {
			/* the dense row has no factors: its three plans are one */
			for (int i = 0; i < 3; i++)
				sb_printf(bt, " %s |", r == dense && i ? "-" :
				          fnum(1e3 * cn(T, r, C->g[3 * h + i])));
			if (r == dense)
				sb_puts(bt, " - |");
			else
				sb_printf(bt, " %s (%s) |", fx(cn(T, r, C->gx[h])),
				          !strcmp(cs(T, r, C->gbest[h]), "fused") ?
				          "fused" : "two GEMMs");
		}
		sb_puts(bt, "\n");
		const char *bs[2] = { "b1", "b1000" };
		for (int h = 0; h < 2; h++) {
			char key[128];
			snprintf(key, sizeof key, "mnist.%s.gen_dense_%s_ms", tg,
			         bs[h]);
			kv_set(key, "%s", fnum(1e3 * cn(T, r, C->g[3 * h])));
			snprintf(key, sizeof key, "mnist.%s.gen_fused_%s_ms", tg,
			         bs[h]);
			kv_set(key, "%s", fnum(1e3 * cn(T, r, C->g[3 * h + 2])));
			snprintf(key, sizeof key, "mnist.%s.gen_factors_%s_ms", tg,
			         bs[h]);
			kv_set(key, "%s", fnum(1e3 * cn(T, r, C->g[3 * h + 1])));
			snprintf(key, sizeof key, "mnist.%s.gen_best_%s", tg, bs[h]);
			kv_set(key, "%s", !strcmp(cs(T, r, C->gbest[h]), "fused") ?
			       "the fused svd kernel" : "two GEMMs");
			snprintf(key, sizeof key, "mnist.%s.gen_%s_x", tg, bs[h]);
			kv_set(key, "%s", fx(cn(T, r, C->gx[h])));
			/* each option against the generated dense GEMM, from the
			 * median times */
			snprintf(key, sizeof key, "mnist.%s.gen_fused_%s_x", tg,
			         bs[h]);
			kv_set(key, "%s", fx(cn(T, r, C->g[3 * h]) /
			                     cn(T, r, C->g[3 * h + 2])));
			snprintf(key, sizeof key, "mnist.%s.gen_factors_%s_x", tg,
			         bs[h]);
			kv_set(key, "%s", fx(cn(T, r, C->g[3 * h]) /
			                     cn(T, r, C->g[3 * h + 1])));
			/* the generated dense GEMM against the generic one */
			snprintf(key, sizeof key, "mnist.%s.gen_vs_generic_dense_%s_x",
			         tg, bs[h]);
			kv_set(key, "%s", fx(cn(T, r, C->t[4 * h]) /
			                     cn(T, r, C->g[3 * h])));
		}
		char key[128];
		snprintf(key, sizeof key, "mnist.%s.acc_gen", tg);
		kv_set(key, "%s%%", cs(T, r, C->acc_gen));
		/* the same shapes timed again in the fine-tuning and
		 * from-scratch runs */
		for (int i = 1; i < 3 && r != dense; i++) {
			const int q = have[i] ? mnist_row(&t[i], &c[i], tg) : -1;
			for (int h = 0; h < 2; h++) {
				snprintf(key, sizeof key, "mnist.%s.gen_%s_x_%s", tg,
				         bs[h], names[i]);
				kv_set(key, "%s", q < 0 ? "-" :
				       fx(cn(&t[i], q, c[i].gx[h])));
			}
		}
	}
	/* how often the fused kernel is the faster option, all three runs */
	for (int h = 0; h < 2; h++) {
		int wins = 0, rows = 0;
		for (int i = 0; i < 3; i++)
			for (int r = 0; have[i] && r < t[i].nrow; r++) {
				if (!strcmp(cs(&t[i], r, csv_col(&t[i], "experiment")),
				            "dense"))
					continue;
				rows++;
				wins += !strcmp(cs(&t[i], r, c[i].gbest[h]), "fused");
			}
		kv_set(h ? "mnist.gen_fused_wins_b1000" : "mnist.gen_fused_wins_b1",
		       "%d of %d", wins, rows);
	}
	/* issue 8's targets at ratio 0.25: accuracy within 1 point of the
	 * dense model after fine-tuning; batch 1000 at least 2x faster than
	 * the dense model's generated GEMM */
	if (dense >= 0) {
		const int q = mnist_row(T, C, "0.25");
		const int f = have[1] ? mnist_row(&t[1], &c[1], "0.25") : -1;
		const double da = cn(T, dense, C->acc);
		if (f >= 0) {
			const double drop = da - cn(&t[1], f, c[1].acc);
			kv_set("mnist.0.25.finetune_drop", "%.2f", drop);
			kv_set("mnist.0.25.acc_target", "%s",
			       drop <= 1.0 ? "met" : "not met");
		}
		if (q >= 0) {
			kv_set("mnist.0.25.truncate_drop", "%.2f",
			       da - cn(T, q, C->acc));
			kv_set("mnist.0.25.speed_target", "%s",
			       cn(T, q, C->gx[1]) >= 2.0 ? "met" : "not met");
		}
	}

	sb_puts(bt, "\nThe runtime's generic kernels (the dense model: one "
	        "generic GEMM per layer; fused: `dp_matmul_svd_generic`), each "
	        "option timed on its own:\n\n");
	/* runtime: the truncation run (dense and compressed timed in one run) */
	sb_puts(bt, "| target ratio | b=1 dense | b=1 rebuild W | b=1 three "
	        "factors | b=1 fused | b=1000 dense | b=1000 rebuild W | b=1000 "
	        "three factors | b=1000 fused | best vs dense, b=1 | best vs "
	        "dense, b=1000 |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	static const char *opt[4] = { "dense", "rebuild", "factors", "fused" };
	for (int r = 0; r < T->nrow; r++) {
		const char *tg = r == dense ? "dense" : cs(T, r, C->target);
		double v[8];
		for (int i = 0; i < 8; i++)
			v[i] = 1e3 * cn(T, r, C->t[i]);   /* ms for the test set */
		sb_printf(bt, "| %s |", tg);
		for (int i = 0; i < 8; i++)
			sb_printf(bt, " %s |", fnum(v[i]));
		for (int h = 0; h < 2; h++) {
			int bi = 1;
			for (int i = 2; i < 4; i++)
				if (v[4 * h + i] < v[4 * h + bi])
					bi = i;
			sb_printf(bt, " %s (%s) |", fx(v[4 * h] / v[4 * h + bi]), opt[bi]);
		}
		sb_puts(bt, "\n");
		for (int i = 1; i < 8; i++) {
			if (i == 4)
				continue;
			char key[128];
			snprintf(key, sizeof key, "mnist.%s.%s_b%s_x", tg, opt[i % 4],
			         i < 4 ? "1" : "1000");
			kv_set(key, "%s", fx(v[i < 4 ? 0 : 4] / v[i]));
		}
		char key[128];
		snprintf(key, sizeof key, "mnist.%s.dense_b1_ms", tg);
		kv_set(key, "%s", fnum(v[0]));
		snprintf(key, sizeof key, "mnist.%s.dense_b1000_ms", tg);
		kv_set(key, "%s", fnum(v[4]));
	}
}

/* ---- the precision study (issue 6): whatever its CSVs hold ---- */

/* One pivot of a precision CSV: the rows where column fcol[i] equals
 * fval[i] (nf filters), a table row per distinct value of rcol (in file
 * order), a column per entry of cols (values of ccol), each cell the
 * value of vcol. A missing cell is "-". */
static void pivot(sbuf *b, const csv *t, const char *const *fcol,
                  const char *const *fval, int nf, const char *rcol,
                  const char *ccol, const char *const *cols, int ncols,
                  const char *vcol)
{
	int fc[4], rc = csv_col(t, rcol), cc = csv_col(t, ccol);
	int vc = csv_col(t, vcol);
	for (int i = 0; i < nf; i++)
		fc[i] = csv_col(t, fcol[i]);
	sb_printf(b, "| %s |", rcol);
	for (int j = 0; j < ncols; j++)
		sb_printf(b, " %s |", cols[j]);
	sb_puts(b, "\n|---|");
	for (int j = 0; j < ncols; j++)
		sb_puts(b, "--:|");
	sb_puts(b, "\n");
	for (int r = 0; r < t->nrow; r++) {
		int keep = 1, first = 1;
		for (int i = 0; i < nf; i++)
			keep &= !strcmp(cs(t, r, fc[i]), fval[i]);
		for (int q = 0; keep && q < r && first; q++) {
			int same = !strcmp(cs(t, q, rc), cs(t, r, rc));
			for (int i = 0; same && i < nf; i++)
				same = !strcmp(cs(t, q, fc[i]), fval[i]);
			first = !same;
		}
		if (!keep || !first)
			continue;
		sb_printf(b, "| %s |", cs(t, r, rc));
		for (int j = 0; j < ncols; j++) {
			const char *cell = "-";
			for (int q = 0; q < t->nrow; q++) {
				int match = !strcmp(cs(t, q, rc), cs(t, r, rc)) &&
				            !strcmp(cs(t, q, cc), cols[j]);
				for (int i = 0; match && i < nf; i++)
					match = !strcmp(cs(t, q, fc[i]), fval[i]);
				if (match) {
					cell = fsci(cn(t, q, vc));
					break;
				}
			}
			sb_printf(b, " %s |", cell);
		}
		sb_puts(b, "\n");
	}
	sb_puts(b, "\n");
}

/* The precision study (issue 6): error per algorithm and precision, as
 * pivots of its CSVs; the fragments precision_*.md interpret them. */
static void gen_precision(void)
{
	static const char *const conv_prec[] = { "fp64", "fp32", "tf32",
		"bf16", "bf16:acc32", "fp16", "fp16:acc32", "fp8-e5m2",
		"fp8-e5m2:acc32", "fp8-e4m3", "fp8-e4m3:acc32", "int16", "int8" };
	static const char *const log_methods[] = { "log", "lns",
		"lns-mitchell", "lns-mitchell" };
	static const char *const log_variants[] = { "F", "W=32", "B=F/2",
		"B=0" };
	const int nlog = (int)(sizeof log_methods / sizeof *log_methods);
	const int np = (int)(sizeof conv_prec / sizeof *conv_prec);
	csv t;
	sbuf *b = table_new("precision-conv");
	if (csv_load(&t, "docs/data/precision_conv.csv")) {
		source("docs/data/precision_conv.csv", t.nrow, "make study-precision");
		static const char *const f1[] = { "layer", "input" };
		static const char *const v1[] = { "47x47 C1 K1 3x3", "normal" };
		static const char *const v2[] = { "14x14 C64 K2 3x3", "relu" };
		sb_puts(b, "Mean |error| on the issue's case (47x47, one channel, "
		        "3x3, N(0,1) inputs, 50 trials):\n\n");
		pivot(b, &t, f1, v1, 2, "algo", "precision", conv_prec, np,
		      "mean_abs_err");
		sb_puts(b, "Relative L2 error on 14x14 C64 K2 3x3 with ReLU "
		        "inputs (64-channel sums):\n\n");
		pivot(b, &t, f1, v2, 2, "algo", "precision", conv_prec, np,
		      "rel_l2_err");
	} else {
		source("docs/data/precision_conv.csv", -1, "make study-precision");
		missing(b, "docs/data/precision_conv.csv", "make study-precision");
	}
	b = table_new("precision-matmul");
	if (csv_load(&t, "docs/data/precision_matmul.csv")) {
		source("docs/data/precision_matmul.csv", t.nrow,
		       "make study-precision");
		static const char *const f[] = { "m", "k", "n", "input" };
		static const char *const v[] = { "32", "128", "32", "normal" };
		sb_puts(b, "Relative L2 error, 32x128x32, N(0,1) inputs, 50 "
		        "trials:\n\n");
		pivot(b, &t, f, v, 4, "algo", "precision", conv_prec, np,
		      "rel_l2_err");
	} else {
		source("docs/data/precision_matmul.csv", -1, "make study-precision");
		missing(b, "docs/data/precision_matmul.csv", "make study-precision");
	}
	b = table_new("precision-log");
	if (csv_load(&t, "docs/data/precision_log.csv")) {
		source("docs/data/precision_log.csv", t.nrow, "make study-precision");
		int mc = csv_col(&t, "method"), vc = csv_col(&t, "variant");
		int ic = csv_col(&t, "input"), fc = csv_col(&t, "frac_bits");
		int ec = csv_col(&t, "mean_abs_err");
		sb_puts(b, "Mean |error| of the log-domain matmuls against fp64 vs "
		        "the fractional bits F (the seed's 64 sizes, N(0,1)):\n\n"
		        "| F |");
		for (int j = 0; j < nlog; j++)
			sb_printf(b, " %s %s |", log_methods[j], log_variants[j]);
		sb_puts(b, "\n|--:|");
		for (int j = 0; j < nlog; j++)
			sb_puts(b, "--:|");
		sb_puts(b, "\n");
		for (int f = 0; f <= 12; f++) {
			char fs[8];
			snprintf(fs, sizeof fs, "%d", f);
			sb_printf(b, "| %d |", f);
			for (int j = 0; j < nlog; j++) {
				const char *cell = "-";
				for (int r = 0; r < t.nrow; r++)
					if (!strcmp(cs(&t, r, ic), "normal") &&
					    !strcmp(cs(&t, r, mc), log_methods[j]) &&
					    !strcmp(cs(&t, r, vc), log_variants[j]) &&
					    !strcmp(cs(&t, r, fc), fs)) {
						cell = fsci(cn(&t, r, ec));
						break;
					}
				sb_printf(b, " %s |", cell);
			}
			sb_puts(b, "\n");
		}
		sb_puts(b, "\n");
	} else {
		source("docs/data/precision_log.csv", -1, "make study-precision");
		missing(b, "docs/data/precision_log.csv", "make study-precision");
	}
}

static void gen_sources(void)
{
	sbuf *b = table_new("sources");
	sb_puts(b, "| file | rows | written by |\n|---|--:|---|\n");
	for (int i = 0; i < nsources; i++) {
		if (sources[i].rows < 0)
			sb_printf(b, "| `%s` | missing | `%s` |\n", sources[i].path,
			          sources[i].made_by);
		else
			sb_printf(b, "| `%s` | %d | `%s` |\n", sources[i].path,
			          sources[i].rows, sources[i].made_by);
	}
}

/* ---- the outline ---- */

/* Copy one line of text with {{key}} replaced. */
static void emit_text(sbuf *out, const char *line, const char *where,
                      int lineno)
{
	const char *p = line;
	for (;;) {
		const char *o = strstr(p, "{{");
		if (!o) {
			sb_puts(out, p);
			return;
		}
		const char *c = strstr(o + 2, "}}");
		if (!c)
			die("%s:%d: '{{' without '}}'", where, lineno);
		sb_add(out, p, (size_t)(o - p));
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)(c - o - 2), o + 2);
		const char *v = kv_get(key);
		if (!v)
			die("%s:%d: unknown key {{%s}} (report --keys lists them)",
			    where, lineno, key);
		sb_puts(out, v);
		p = c + 2;
	}
}

static void emit_file(sbuf *out, const char *rel, int depth);

static void emit_line(sbuf *out, char *line, const char *where, int lineno,
                      int depth)
{
	if (line[0] != '@') {
		emit_text(out, line, where, lineno);
		sb_puts(out, "\n");
		return;
	}
	char *arg = line + strcspn(line, " ");
	if (*arg)
		*arg++ = '\0';
	while (*arg == ' ')
		arg++;
	if (!strcmp(line, "@#"))
		return;
	if (!strcmp(line, "@include")) {
		char rel[512];
		if (!*arg || strstr(arg, ".."))
			die("%s:%d: @include needs a file name under docs/report/",
			    where, lineno);
		snprintf(rel, sizeof rel, "docs/report/%s", arg);
		emit_file(out, rel, depth + 1);
		return;
	}
	if (!strcmp(line, "@table")) {
		for (int i = 0; i < ntables; i++)
			if (!strcmp(tables[i].name, arg)) {
				sb_puts(out, tables[i].text.s ? tables[i].text.s : "");
				return;
			}
		die("%s:%d: no table '%s'", where, lineno, arg);
	}
	if (!strcmp(line, "@image")) {
		char file[512];
		size_t n = strcspn(arg, " ");
		snprintf(file, sizeof file, "%.*s", (int)n, arg);
		const char *alt = arg + n;
		while (*alt == ' ')
			alt++;
		char rel[600];
		snprintf(rel, sizeof rel, "docs/%s", file);
		if (!n)
			die("%s:%d: @image needs a file", where, lineno);
		if (file_exists(rel))
			sb_printf(out, "![%s](%s)\n", alt, file);
		else
			sb_printf(out, "*(Plot `%s` is not there yet.)*\n", rel);
		return;
	}
	die("%s:%d: unknown directive %s", where, lineno, line);
}

static void emit_file(sbuf *out, const char *rel, int depth)
{
	if (depth > 8)
		die("%s: @include nested too deep", rel);
	char *text = slurp_file(rel);
	if (!text)
		die("%s: missing", rpath(rel));
	int lineno = 0;
	for (char *line = text; *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lineno++;
		emit_line(out, line, rel, lineno, depth);
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
}

/* ---- main ---- */

static int write_atomic(const char *path, const sbuf *b)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		fprintf(stderr, "report: %s: %s\n", tmp, strerror(errno));
		return 0;
	}
	int bad = fwrite(b->s, 1, b->len, f) != b->len;
	bad |= fflush(f) != 0;
	bad |= fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, path) != 0) {
		fprintf(stderr, "report: writing %s failed: %s\n", path,
		        strerror(errno));
		remove(tmp);
		return 0;
	}
	return 1;
}

static void usage(FILE *f)
{
	fputs("usage: report [--root DIR] [-o FILE|-] [--keys]\n"
	      "  docs/REPORT.md from docs/data/*.csv, docs/*.png and\n"
	      "  docs/report/REPORT.md.in (paths under --root, default .);\n"
	      "  -o - writes to stdout; --keys lists the {{key}} values\n", f);
}

int main(int argc, char **argv)
{
	const char *outrel = "docs/REPORT.md";
	int keys = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--root") && i + 1 < argc)
			root = argv[++i];
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			outrel = argv[++i];
		else if (!strcmp(argv[i], "--keys"))
			keys = 1;
		else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "report: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	gen_conv();
	gen_matmul();
	gen_svd_bench();
	gen_svd_rank();
	gen_svd_speed();
	gen_mnist_train();
	gen_mnist();
	gen_precision();
	gen_sources();
	if (keys) {
		for (int i = 0; i < nkv; i++)
			printf("%s = %s\n", kvs[i].key, kvs[i].val);
		return 0;
	}
	sbuf out = { 0 };
	emit_file(&out, "docs/report/REPORT.md.in", 0);
	if (!strcmp(outrel, "-"))
		return fwrite(out.s, 1, out.len, stdout) == out.len ? 0 : 1;
	const char *path = outrel[0] == '/' ? outrel : rpath(outrel);
	if (!write_atomic(path, &out))
		return 1;
	fprintf(stderr, "report: wrote %s (%zu bytes)\n", path, out.len);
	return 0;
}
