/* wisdom.c - remembered choices, one readable line per tuned problem:
 *
 *   problem=--op conv --shape 56x56x64 --filters 64 --kernel 3x3
 *   --stride 1 --pad 1 --batch 1 ; precision=fp32 ; cpu=AMD EPYC ;
 *   cpuflags=<16 hex> ; version=0.1.0 ; source=<16 hex> ;
 *   choice=--algo winograd --tile 4 ; kernel=dp_conv_... ;
 *   time_us=123.456 ; max_abs_err=1.2e-05 ; rel_err=3.4e-07
 *
 * (all on one line; fields separated by " ; ", in any order). Lines for
 * another CPU model or flags, another DP_VERSION or another kernel source
 * are stale: counted, returned, kept in the file, never used. A line that
 * does not parse is a warning and is dropped when the file is rewritten.
 * Writers hold flock() on FILE.lock around read-merge-write, and write
 * FILE.tmp.PID then rename it over FILE. Never prints. */
#define _DEFAULT_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "dpgen.h"
#include "wisdom.h"

#define MAX_LINE 4096
#define MAX_WARNINGS 64
#define SEP " ; "

typedef struct wline {
	char *text;            /* the line without its newline */
	char key[1024];        /* problem|precision|cpu|flags|version */
	int usable;
	dp_wisdom_entry e;
} wline;

struct dp_wisdom {
	wline *lines;          /* lines that parsed (usable and stale) */
	int n, cap;
	char **stale;
	int nstale, stale_cap;
	char *warn[MAX_WARNINGS];
	int nwarn;
};

/* ---- machine and build ---- */

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_START 0xcbf29ce484222325ULL

/* "source" hash of a kernel: its name and the dpgen version (the
 * generated source is not available at run time). */
static uint64_t source_hash(const char *kernel)
{
	return fnv1a(DP_VERSION, fnv1a("|", fnv1a(kernel, FNV_START)));
}

/* Field values must not contain the separator or line breaks. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ';' || (unsigned char)*s < ' ')
			*s = ',';
}

static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		s[--n] = '\0';
	size_t i = strspn(s, " \t");
	memmove(s, s + i, n - i + 1);
}

typedef struct cpu_sig {
	char model[128];
	uint64_t flags;
} cpu_sig;

/* Model name and a hash of the flags line of the first processor in
 * /proc/cpuinfo; "unknown" and 0 where there is none. */
static void cpu_signature(cpu_sig *c)
{
	snprintf(c->model, sizeof c->model, "unknown");
	c->flags = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[8192];
	int have_model = 0, have_flags = 0;
	while ((!have_model || !have_flags) && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *val = colon + 1;
		trim(line);
		trim(val);
		if (!have_model && !strcmp(line, "model name")) {
			snprintf(c->model, sizeof c->model, "%s", val);
			sanitize(c->model);
			have_model = 1;
		} else if (!have_flags && (!strcmp(line, "flags") ||
		                           !strcmp(line, "Features"))) {
			c->flags = fnv1a(val, FNV_START);
			have_flags = 1;
		}
	}
	fclose(f);
}

/* ---- canonical arguments ---- */

void dp_wisdom_problem_args(const dp_desc *d, char *buf, size_t len)
{
	if (d->op == DP_OP_MATMUL) {
		snprintf(buf, len, "--op matmul --shape %dx%dx%d", d->mm_m,
		         d->mm_k, d->mm_n);
		return;
	}
	char pad[32];
	if (d->pad_h == d->pad_w)
		snprintf(pad, sizeof pad, "%d", d->pad_h);
	else
		snprintf(pad, sizeof pad, "%dx%d", d->pad_h, d->pad_w);
	snprintf(buf, len, "--op conv --shape %dx%dx%d --filters %d --kernel "
	         "%dx%d --stride %d --pad %s --batch %d", d->h, d->w, d->c,
	         d->k, d->r, d->s, d->stride, pad, d->n);
}

void dp_wisdom_choice_args(const dp_desc *d, char *buf, size_t len)
{
	const char *a = dp_algo_name(d->algo);
	a = a ? a : "?";
	switch (d->algo) {
	case DP_ALGO_WINOGRAD:
		snprintf(buf, len, "--algo %s --tile %d%s%s", a, d->tile,
		         d->points[0] ? " --points " : "", d->points);
		break;
	case DP_ALGO_FFT:
		snprintf(buf, len, "--algo %s --fft-tile %d", a, d->tile);
		break;
	case DP_ALGO_SVD:
		snprintf(buf, len, "--algo %s --rank-a %d --rank-b %d", a,
		         d->rank_a, d->rank_b);
		break;
	case DP_ALGO_LOG:
		if (d->frac_bits == DP_LOG_EXACT)
			snprintf(buf, len, "--algo %s --log-frac-bits exact", a);
		else
			snprintf(buf, len, "--algo %s --log-frac-bits %d", a,
			         d->frac_bits);
		break;
	case DP_ALGO_LNS:
		snprintf(buf, len, "--algo %s --log-frac-bits %d --acc-bits %d "
		         "--bin-bits %d", a, d->frac_bits, d->acc_bits,
		         d->bin_bits);
		break;
	default:
		snprintf(buf, len, "--algo %s", a);
	}
}

/* Strict integer in [lo, hi]. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9')))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* "AxB" or "AxBxC": n integers in [lo, hi]. */
static int parse_dims(const char *s, int n, int lo, int hi, int *v)
{
	char buf[64];
	if (strlen(s) >= sizeof buf)
		return -1;
	strcpy(buf, s);
	char *p = buf;
	for (int i = 0; i < n; i++) {
		char *x = strchr(p, 'x');
		if ((i < n - 1) != (x != NULL))
			return -1;
		if (x)
			*x = '\0';
		if (parse_int(p, lo, hi, &v[i]))
			return -1;
		p = x ? x + 1 : p;
	}
	return 0;
}

/* Apply "--name value ..." to d. Returns 0, or -1 with a reason. */
static int apply_args(const char *args, dp_desc *d, char *why, size_t len)
{
	char buf[MAX_LINE];
	snprintf(buf, sizeof buf, "%s", args);
	char *save = NULL;
	for (char *name = strtok_r(buf, " ", &save); name;
	     name = strtok_r(NULL, " ", &save)) {
		char *val = strtok_r(NULL, " ", &save);
		int v[3];
		if (!val) {
			snprintf(why, len, "'%.40s' has no value", name);
			return -1;
		}
		int bad = 0;
		if (!strcmp(name, "--op"))
			bad = dp_op_parse(val, &d->op) != DP_OK;
		else if (!strcmp(name, "--algo"))
			bad = dp_algo_parse(val, &d->algo) != DP_OK;
		else if (!strcmp(name, "--shape")) {
			bad = parse_dims(val, 3, 1, DP_MAX_DIM, v);
			if (!bad && d->op == DP_OP_MATMUL) {
				d->mm_m = v[0];
				d->mm_k = v[1];
				d->mm_n = v[2];
			} else if (!bad) {
				d->h = v[0];
				d->w = v[1];
				d->c = v[2];
			}
		} else if (!strcmp(name, "--filters"))
			bad = parse_int(val, 1, DP_MAX_DIM, &d->k);
		else if (!strcmp(name, "--kernel")) {
			bad = parse_dims(val, 2, 1, DP_MAX_DIM, v);
			if (!bad) {
				d->r = v[0];
				d->s = v[1];
			}
		} else if (!strcmp(name, "--stride"))
			bad = parse_int(val, 1, DP_MAX_DIM, &d->stride);
		else if (!strcmp(name, "--pad")) {
			if (strchr(val, 'x')) {
				bad = parse_dims(val, 2, 0, DP_MAX_DIM, v);
				if (!bad) {
					d->pad_h = v[0];
					d->pad_w = v[1];
				}
			} else {
				bad = parse_int(val, 0, DP_MAX_DIM, &d->pad_h);
				d->pad_w = d->pad_h;
			}
		} else if (!strcmp(name, "--batch"))
			bad = parse_int(val, 1, DP_MAX_DIM, &d->n);
		else if (!strcmp(name, "--tile") || !strcmp(name, "--fft-tile"))
			bad = parse_int(val, 1, DP_MAX_DIM, &d->tile);
		else if (!strcmp(name, "--points"))
			bad = snprintf(d->points, sizeof d->points, "%s", val) >=
			      (int)sizeof d->points;
		else if (!strcmp(name, "--rank-a"))
			bad = parse_int(val, 0, DP_MAX_DIM, &d->rank_a);
		else if (!strcmp(name, "--rank-b"))
			bad = parse_int(val, 0, DP_MAX_DIM, &d->rank_b);
		else if (!strcmp(name, "--log-frac-bits")) {
			if (!strcmp(val, "exact"))
				d->frac_bits = DP_LOG_EXACT;
			else
				bad = parse_int(val, 0, 64, &d->frac_bits);
		} else if (!strcmp(name, "--acc-bits"))
			bad = parse_int(val, 0, 64, &d->acc_bits);
		else if (!strcmp(name, "--bin-bits"))
			bad = parse_int(val, 0, 64, &d->bin_bits);
		else {
			snprintf(why, len, "unknown argument '%.40s'", name);
			return -1;
		}
		if (bad) {
			snprintf(why, len, "%s '%.40s' is not valid", name, val);
			return -1;
		}
	}
	return 0;
}

/* ---- lines ---- */

static const char *const fields[] = {
	"problem", "precision", "cpu", "cpuflags", "version", "source",
	"choice", "kernel", "time_us", "max_abs_err", "rel_err"
};
enum { F_PROBLEM, F_PREC, F_CPU, F_FLAGS, F_VERSION, F_SOURCE, F_CHOICE,
       F_KERNEL, F_TIME, F_MAXERR, F_RELERR, NFIELDS };

static int parse_hex64(const char *s, uint64_t *out)
{
	if (strlen(s) != 16 || strspn(s, "0123456789abcdef") != 16)
		return -1;
	*out = strtoull(s, NULL, 16);
	return 0;
}

static int parse_nonneg(const char *s, double *out)
{
	char *end;
	if (!*s)
		return -1;
	double v = strtod(s, &end);
	if (*end || !(v >= 0) || isinf(v))
		return -1;
	*out = v;
	return 0;
}

/* Parse text (no newline) into l. 0: parsed (l->usable says whether it
 * is for this machine and build); -1: damaged, reason in why. */
static int parse_line(const char *text, const cpu_sig *cpu, wline *l,
                      char *why, size_t len)
{
	char buf[MAX_LINE];
	const char *val[NFIELDS] = { 0 };
	snprintf(buf, sizeof buf, "%s", text);
	char *p = buf;
	while (p) {
		char *next = strstr(p, SEP);
		if (next) {
			*next = '\0';
			next += strlen(SEP);
		}
		char *eq = strchr(p, '=');
		if (!eq) {
			snprintf(why, len, "field '%.40s' has no '='", p);
			return -1;
		}
		*eq = '\0';
		trim(p);
		int f = 0;
		while (f < NFIELDS && strcmp(fields[f], p))
			f++;
		if (f == NFIELDS) {
			snprintf(why, len, "unknown field '%.40s'", p);
			return -1;
		}
		if (val[f]) {
			snprintf(why, len, "field '%s' given twice", fields[f]);
			return -1;
		}
		trim(eq + 1);
		val[f] = eq + 1;
		p = next;
	}
	for (int f = 0; f < NFIELDS; f++)
		if (!val[f]) {
			snprintf(why, len, "missing field '%s'", fields[f]);
			return -1;
		}
	memset(l, 0, sizeof *l);
	dp_desc *d = &l->e.desc;
	uint64_t flags, src;
	if (apply_args(val[F_PROBLEM], d, why, len) ||
	    apply_args(val[F_CHOICE], d, why, len))
		return -1;
	if (dp_precision_spec_parse(val[F_PREC], &d->precision,
	                            &d->policy) != DP_OK) {
		snprintf(why, len, "unknown precision '%.20s'", val[F_PREC]);
		return -1;
	}
	char msg[200];
	if (dp_desc_check(d, msg, sizeof msg) != DP_OK) {
		snprintf(why, len, "problem: %s", msg);
		return -1;
	}
	if (parse_hex64(val[F_FLAGS], &flags) ||
	    parse_hex64(val[F_SOURCE], &src)) {
		snprintf(why, len, "cpuflags and source must be 16 hex digits");
		return -1;
	}
	if (parse_nonneg(val[F_TIME], &l->e.seconds) ||
	    parse_nonneg(val[F_MAXERR], &l->e.max_abs_err) ||
	    parse_nonneg(val[F_RELERR], &l->e.rel_err)) {
		snprintf(why, len, "time_us, max_abs_err and rel_err must be "
		         "non-negative numbers");
		return -1;
	}
	l->e.seconds *= 1e-6;
	if (strlen(val[F_KERNEL]) >= sizeof l->e.kernel || !*val[F_KERNEL]) {
		snprintf(why, len, "bad kernel name");
		return -1;
	}
	strcpy(l->e.kernel, val[F_KERNEL]);
	char prob[512];
	dp_wisdom_problem_args(d, prob, sizeof prob);
	snprintf(l->key, sizeof l->key, "%s|%s|%.200s|%s|%.40s", prob,
	         val[F_PREC], val[F_CPU], val[F_FLAGS], val[F_VERSION]);
	const dp_kernel *k = dp_kernel_for(d);
	l->usable = !strcmp(val[F_CPU], cpu->model) && flags == cpu->flags &&
	            !strcmp(val[F_VERSION], DP_VERSION) &&
	            src == source_hash(val[F_KERNEL]) && k &&
	            !strcmp(k->name, val[F_KERNEL]);
	return 0;
}

static void warn(dp_wisdom *w, int line, const char *why)
{
	if (w->nwarn >= MAX_WARNINGS)
		return;
	char buf[512];
	if (w->nwarn == MAX_WARNINGS - 1)
		snprintf(buf, sizeof buf, "more damaged lines not listed");
	else
		snprintf(buf, sizeof buf, "wisdom line %d: %s, ignored", line,
		         why);
	w->warn[w->nwarn] = strdup(buf);
	if (w->warn[w->nwarn])
		w->nwarn++;
}

static int push_line(dp_wisdom *w, const wline *l, const char *text)
{
	if (w->n == w->cap) {
		int cap = w->cap ? 2 * w->cap : 16;
		wline *nl = realloc(w->lines, (size_t)cap * sizeof *nl);
		if (!nl)
			return -1;
		w->lines = nl;
		w->cap = cap;
	}
	char *t = strdup(text);
	if (!t)
		return -1;
	w->lines[w->n] = *l;
	w->lines[w->n++].text = t;
	if (l->usable)
		return 0;
	if (w->nstale == w->stale_cap) {
		int cap = w->stale_cap ? 2 * w->stale_cap : 8;
		char **ns = realloc(w->stale, (size_t)cap * sizeof *ns);
		if (!ns)
			return -1;
		w->stale = ns;
		w->stale_cap = cap;
	}
	w->stale[w->nstale++] = t;   /* owned by lines[] */
	return 0;
}

/* Read one line of at most MAX_LINE - 1 characters into buf; longer ones
 * are consumed and flagged. Returns 0 at end of file, else 1. */
static int read_line(FILE *f, char *buf, int *too_long, int *has_nul)
{
	size_t n = 0;
	int c, any = 0;
	*too_long = *has_nul = 0;
	while ((c = fgetc(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (c == '\0')
			*has_nul = 1;
		if (n < MAX_LINE - 1)
			buf[n++] = (char)c;
		else
			*too_long = 1;
	}
	buf[n] = '\0';
	return any;
}

static dp_status load_stream(FILE *f, dp_wisdom *w)
{
	cpu_sig cpu;
	cpu_signature(&cpu);
	char *buf = malloc(MAX_LINE);
	if (!buf)
		return DP_ERR_NOMEM;
	int too_long, has_nul, lineno = 0;
	dp_status st = DP_OK;
	while (read_line(f, buf, &too_long, &has_nul)) {
		lineno++;
		if (too_long) {
			warn(w, lineno, "longer than 4095 characters");
			continue;
		}
		if (has_nul) {
			warn(w, lineno, "contains a NUL byte");
			continue;
		}
		char *s = buf + strspn(buf, " \t\r");
		if (!*s || *s == '#')
			continue;
		wline l;
		char why[256];
		if (parse_line(s, &cpu, &l, why, sizeof why)) {
			warn(w, lineno, why);
			continue;
		}
		if (push_line(w, &l, s)) {
			st = DP_ERR_NOMEM;
			break;
		}
	}
	free(buf);
	return st;
}

dp_status dp_wisdom_load(const char *path, dp_wisdom **out)
{
	if (!out)
		return DP_ERR_ARG;
	*out = NULL;
	dp_wisdom *w = calloc(1, sizeof *w);
	if (!w)
		return DP_ERR_NOMEM;
	dp_status st = DP_OK;
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (f) {
		st = load_stream(f, w);
		fclose(f);
	} else if (path && errno != ENOENT) {
		st = DP_ERR_IO;
	}
	if (st != DP_OK) {
		dp_wisdom_free(w);
		return st;
	}
	*out = w;
	return DP_OK;
}

void dp_wisdom_free(dp_wisdom *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->lines[i].text);
	for (int i = 0; i < w->nwarn; i++)
		free(w->warn[i]);
	free(w->lines);
	free(w->stale);
	free(w);
}

int dp_wisdom_count(const dp_wisdom *w)
{
	return w ? w->n - w->nstale : 0;
}

int dp_wisdom_stale_count(const dp_wisdom *w)
{
	return w ? w->nstale : 0;
}

const char *dp_wisdom_stale(const dp_wisdom *w, int i)
{
	return w && i >= 0 && i < w->nstale ? w->stale[i] : NULL;
}

int dp_wisdom_warning_count(const dp_wisdom *w)
{
	return w ? w->nwarn : 0;
}

const char *dp_wisdom_warning(const dp_wisdom *w, int i)
{
	return w && i >= 0 && i < w->nwarn ? w->warn[i] : NULL;
}

dp_status dp_wisdom_lookup(const dp_wisdom *w, const dp_desc *d,
                           dp_wisdom_entry *out)
{
	if (!w || !d || !out)
		return DP_ERR_ARG;
	char want[512], have[512];
	dp_wisdom_problem_args(d, want, sizeof want);
	for (int i = w->n - 1; i >= 0; i--) {
		const wline *l = &w->lines[i];
		if (!l->usable || l->e.desc.precision != d->precision ||
		    l->e.desc.policy != d->policy ||
		    l->e.desc.op != d->op)
			continue;
		dp_wisdom_problem_args(&l->e.desc, have, sizeof have);
		if (!strcmp(want, have)) {
			*out = l->e;
			return DP_OK;
		}
	}
	return DP_ERR_UNSUPPORTED;
}

/* ---- writing ---- */

static void format_line(const dp_find_result *r, const char *kernel,
                        const cpu_sig *cpu, char *buf, size_t len,
                        char *key, size_t key_len)
{
	char prob[512], choice[256], flags[17];
	dp_wisdom_problem_args(&r->desc, prob, sizeof prob);
	dp_wisdom_choice_args(&r->desc, choice, sizeof choice);
	snprintf(flags, sizeof flags, "%016llx", (unsigned long long)cpu->flags);
	char prec[32];
	dp_precision_spec_name(r->desc.precision, r->desc.policy, prec,
	                       sizeof prec);
	snprintf(buf, len, "problem=%s" SEP "precision=%s" SEP "cpu=%s" SEP
	         "cpuflags=%s" SEP "version=%s" SEP "source=%016llx" SEP
	         "choice=%s" SEP "kernel=%s" SEP "time_us=%.3f" SEP
	         "max_abs_err=%.3e" SEP "rel_err=%.3e", prob, prec, cpu->model,
	         flags, DP_VERSION, (unsigned long long)source_hash(kernel),
	         choice, kernel, r->seconds * 1e6, r->max_abs_err, r->rel_err);
	snprintf(key, key_len, "%s|%s|%.200s|%s|%.40s", prob, prec, cpu->model,
	         flags, DP_VERSION);
}

#define SAY(...) do { \
	if (msg && msg_len) snprintf(msg, msg_len, __VA_ARGS__); \
} while (0)

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t k = write(fd, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

dp_status dp_wisdom_record(const char *path, const dp_find_result *r,
                           char *msg, size_t msg_len)
{
	if (msg && msg_len)
		msg[0] = '\0';
	if (!path || !*path || !r || r->status != DP_OK ||
	    dp_desc_check(&r->desc, NULL, 0) != DP_OK) {
		SAY("nothing to record (no path or no measured result)");
		return DP_ERR_ARG;
	}
	const dp_kernel *k = dp_kernel_for(&r->desc);
	if (!k) {
		SAY("no kernel for the chosen algorithm");
		return DP_ERR_UNSUPPORTED;
	}
	size_t plen = strlen(path);
	char *lock = malloc(plen + 32), *tmp = malloc(plen + 32);
	char *line = malloc(MAX_LINE), *key = malloc(1024);
	dp_status st = DP_ERR_NOMEM;
	int lfd = -1, fd = -1;
	dp_wisdom *w = NULL;
	if (!lock || !tmp || !line || !key)
		goto out;
	snprintf(lock, plen + 32, "%s.lock", path);
	snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
	cpu_sig cpu;
	cpu_signature(&cpu);
	format_line(r, k->name, &cpu, line, MAX_LINE, key, 1024);
	st = DP_ERR_IO;
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (lfd < 0) {
		SAY("cannot open %s: %s", lock, strerror(errno));
		goto out;
	}
	while (flock(lfd, LOCK_EX) != 0)
		if (errno != EINTR) {
			SAY("cannot lock %s: %s", lock, strerror(errno));
			goto out;
		}
	st = dp_wisdom_load(path, &w);
	if (st != DP_OK) {
		SAY("cannot read %s: %s", path, dp_status_str(st));
		goto out;
	}
	st = DP_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		SAY("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	static const char head[] = "# dpgen wisdom: one line per tuned "
		"problem (problem, precision, cpu, cpuflags, version and source "
		"are the key; choice, kernel, time_us and errors the value)\n";
	int bad = write_all(fd, head, sizeof head - 1);
	for (int i = 0; i < w->n && !bad; i++) {
		if (!strcmp(w->lines[i].key, key))
			continue;     /* replaced by the new line */
		bad = write_all(fd, w->lines[i].text, strlen(w->lines[i].text)) ||
		      write_all(fd, "\n", 1);
	}
	if (!bad)
		bad = write_all(fd, line, strlen(line)) || write_all(fd, "\n", 1);
	if (!bad)
		bad = fsync(fd) != 0;
	if (close(fd) != 0)
		bad = 1;
	fd = -1;
	if (bad || rename(tmp, path) != 0) {
		SAY("cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	st = DP_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	if (lfd >= 0)
		close(lfd);   /* releases the lock */
	dp_wisdom_free(w);
	free(lock);
	free(tmp);
	free(line);
	free(key);
	return st;
}
