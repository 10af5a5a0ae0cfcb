/* t_wisdom.c - wisdom files: round trip, stale lines (another CPU model)
 * reported and not used, damaged and fuzzed files give warnings and no
 * crash, two processes recording at once lose nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "util.h"

static dp_find_result result_for(int h, int c, dp_algo a, int tile)
{
	dp_find_result r;
	memset(&r, 0, sizeof r);
	dp_desc *d = &r.desc;
	d->op = DP_OP_CONV;
	d->algo = a;
	d->n = 1;
	d->c = c;
	d->h = d->w = h;
	d->k = 8;
	d->r = d->s = 3;
	d->stride = 1;
	d->pad_h = d->pad_w = 1;
	d->tile = tile;
	r.status = DP_OK;
	r.seconds = 12.5e-6;
	r.max_abs_err = 1.5e-6;
	r.rel_err = 2.5e-7;
	return r;
}

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(s, 1, n, f);
		fclose(f);
	}
}

/* Load, check it does not crash, return warnings (-1: load failed). */
static int load_warnings(const char *path, int *usable)
{
	dp_wisdom *w = NULL;
	if (dp_wisdom_load(path, &w) != DP_OK)
		return -1;
	int n = dp_wisdom_warning_count(w);
	for (int i = 0; i < n; i++)
		if (!dp_wisdom_warning(w, i))
			n = -1;
	if (usable)
		*usable = dp_wisdom_count(w);
	dp_wisdom_free(w);
	return n;
}

int main(void)
{
	char dirbuf[512], path[700], buf[700];
	char *dir = make_temp_dir(dirbuf, sizeof dirbuf);
	if (!dir) {
		ok(0, "temporary directory");
		return done_testing();
	}
	snprintf(path, sizeof path, "%s/wisdom.txt", dir);

	/* ---- round trip ---- */
	dp_wisdom *w = NULL;
	ok(dp_wisdom_load(path, &w) == DP_OK && dp_wisdom_count(w) == 0,
	   "a missing file is empty wisdom");
	dp_wisdom_free(w);
	dp_find_result r = result_for(20, 4, DP_ALGO_WINOGRAD, 2);
	char msg[512];
	ok(dp_wisdom_record(path, &r, msg, sizeof msg) == DP_OK,
	   "record winograd F(2,3) %s", msg);
	dp_find_result r2 = result_for(24, 4, DP_ALGO_FFT, 16);
	ok(dp_wisdom_record(path, &r2, msg, sizeof msg) == DP_OK,
	   "record fft T16 %s", msg);
	r.desc.tile = 4;
	ok(dp_wisdom_record(path, &r, msg, sizeof msg) == DP_OK,
	   "record winograd F(4,3) for the same problem (replaces)");
	char *text = slurp(path, NULL);
	diag("file:\n%s", text ? text : "(none)");
	ok(dp_wisdom_load(path, &w) == DP_OK && dp_wisdom_count(w) == 2 &&
	   dp_wisdom_stale_count(w) == 0 && dp_wisdom_warning_count(w) == 0,
	   "two usable entries, no stale, no warnings");
	dp_wisdom_entry e;
	dp_desc q = r.desc;
	q.algo = DP_ALGO_DIRECT;
	q.tile = 0;
	ok(dp_wisdom_lookup(w, &q, &e) == DP_OK &&
	   e.desc.algo == DP_ALGO_WINOGRAD && e.desc.tile == 4 &&
	   e.seconds > 12.4e-6 && e.seconds < 12.6e-6 &&
	   e.rel_err > 2.4e-7 && e.rel_err < 2.6e-7 && e.kernel[0],
	   "lookup: winograd F(4,3), time and error kept (%s)", e.kernel);
	q = r2.desc;
	q.algo = DP_ALGO_DIRECT;
	q.tile = 0;
	ok(dp_wisdom_lookup(w, &q, &e) == DP_OK && e.desc.algo == DP_ALGO_FFT &&
	   e.desc.tile == 16, "lookup: fft T16");
	q.h = q.w = 30;
	ok(dp_wisdom_lookup(w, &q, &e) == DP_ERR_UNSUPPORTED,
	   "lookup of an unknown problem: DP_ERR_UNSUPPORTED");
	dp_wisdom_free(w);

	/* ---- stale: another CPU model ---- */
	char *cpu = text ? strstr(text, "cpu=") : NULL;
	if (cpu) {
		char *line_end = strchr(cpu, '\n');
		char *sep = strstr(cpu, " ; ");
		size_t pre = (size_t)(cpu - text) + 4;
		size_t len = strlen(text);
		char *other = malloc(len + 64);
		/* The header and the first line, with cpu=Other CPU 9000. */
		size_t n = 0;
		memcpy(other + n, text, pre);
		n += pre;
		n += (size_t)sprintf(other + n, "Other CPU 9000");
		memcpy(other + n, sep, (size_t)(line_end - sep) + 1);
		n += (size_t)(line_end - sep) + 1;
		other[n] = '\0';
		/* Only the modified line (and the header before it). */
		write_file(path, other, n);
		diag("stale file:\n%s", other);
		free(other);
	}
	ok(dp_wisdom_load(path, &w) == DP_OK && dp_wisdom_count(w) == 0 &&
	   dp_wisdom_stale_count(w) == 1 && dp_wisdom_warning_count(w) == 0 &&
	   dp_wisdom_stale(w, 0) && strstr(dp_wisdom_stale(w, 0),
	                                   "Other CPU 9000"),
	   "a line from another CPU model is stale and returned");
	q = r.desc;
	int found = dp_wisdom_lookup(w, &q, &e) == DP_OK;
	q = r2.desc;
	found |= dp_wisdom_lookup(w, &q, &e) == DP_OK;
	ok(!found, "the stale line is not used");
	dp_wisdom_free(w);
	ok(dp_wisdom_record(path, &r, msg, sizeof msg) == DP_OK &&
	   dp_wisdom_load(path, &w) == DP_OK && dp_wisdom_count(w) == 1 &&
	   dp_wisdom_stale_count(w) == 1,
	   "recording keeps the stale line and adds ours");
	dp_wisdom_free(w);
	/* A wrong source hash and another version are stale too. */
	free(text);
	text = slurp(path, NULL);
	if (text) {
		/* Our line is the last one. */
		char *v = NULL;
		for (char *t = text; (t = strstr(t, "version=" DP_VERSION
		                                 " ; source=")); t++)
			v = t;
		char *s2 = v ? strstr(v, "source=") + 7 : NULL;
		if (s2)
			*s2 = *s2 == '0' ? '1' : '0';
		write_file(path, text, strlen(text));
	}
	ok(dp_wisdom_load(path, &w) == DP_OK && dp_wisdom_count(w) == 0 &&
	   dp_wisdom_stale_count(w) == 2, "a changed source hash is stale");
	dp_wisdom_free(w);

	/* ---- damaged files ---- */
	static const char *const damaged[] = {
		"problem=--op conv\n",
		"garbage without fields\n",
		"problem=--op conv --shape 8x8x1 --filters 1 --kernel 3x3 "
		"--stride 1 --pad 1 --batch 1 ; precision=fp32\n",
		"problem=--op conv --shape 8x8 ; precision=fp32 ; cpu=x ; "
		"cpuflags=0000000000000000 ; version=0.1.0 ; source="
		"0000000000000000 ; choice=--algo direct ; kernel=k ; time_us=1 ;"
		" max_abs_err=1 ; rel_err=1\n",
		"problem=--op conv --shape 8x8x1 --filters 1 --kernel 3x3 "
		"--stride 1 --pad 1 --batch 1 ; precision=fp32 ; cpu=x ; "
		"cpuflags=zz ; version=0.1.0 ; source=0000000000000000 ; "
		"choice=--algo direct ; kernel=k ; time_us=-1 ; max_abs_err=1 ; "
		"rel_err=nan\n",
		"problem=--op conv --shape 8x8x1 --filters 1 --kernel 3x3 "
		"--stride 1 --pad 1 --batch 1 ; problem=--op conv\n",
		"=\n ; ; ;\n=;=;\n",
	};
	int all = 1;
	for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
		write_file(path, damaged[i], strlen(damaged[i]));
		int nw = load_warnings(path, NULL);
		if (nw < 1) {
			all = 0;
			diag("no warning for: %s", damaged[i]);
		}
	}
	ok(all, "missing and malformed fields give warnings");
	/* Truncations of a good file at every length. */
	dp_wisdom_record(path, &r2, msg, sizeof msg);
	free(text);
	size_t tl = 0;
	text = slurp(path, &tl);
	int bad_loads = 0, truncated_warned = 0;
	for (size_t cut = 0; text && cut < tl; cut++) {
		write_file(path, text, cut);
		int u = 0, nw = load_warnings(path, &u);
		if (nw < 0)
			bad_loads++;
		truncated_warned += nw > 0;
	}
	ok(!bad_loads && truncated_warned > 0,
	   "every truncation of a good file loads (%d with warnings)",
	   truncated_warned);
	/* A huge line and random bytes. */
	size_t big = 3u << 20;
	char *huge = malloc(big + 1);
	memset(huge, 'a', big);
	huge[big] = '\n';
	write_file(path, huge, big + 1);
	ok(load_warnings(path, NULL) == 1, "a 3 MiB line: one warning");
	rng_t rng;
	rng_seed(&rng, 5);
	int fuzz_ok = 1;
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(rng_uniform(&rng) * 20000);
		for (size_t i = 0; i < n; i++) {
			double u = rng_uniform(&rng);
			/* Bias towards separators, '=' and newlines. */
			huge[i] = u < 0.05 ? '\n' : u < 0.1 ? ';' : u < 0.15 ? '=' :
			          u < 0.2 ? ' ' : (char)(rng_uniform(&rng) * 256);
		}
		/* Some rounds: mutate a good file instead. */
		if (round % 2 && text && tl < big) {
			memcpy(huge, text, tl);
			n = tl;
			for (int k = 0; k < 5; k++)
				huge[(size_t)(rng_uniform(&rng) * (double)n)] =
					(char)(rng_uniform(&rng) * 256);
		}
		write_file(path, huge, n);
		if (load_warnings(path, NULL) < 0)
			fuzz_ok = 0;
		/* Recording over a damaged file works and drops the damage. */
		if (round % 20 == 0) {
			int u = 0;
			if (dp_wisdom_record(path, &r, msg, sizeof msg) != DP_OK ||
			    load_warnings(path, &u) != 0 || u < 1)
				fuzz_ok = 0;
		}
	}
	ok(fuzz_ok, "200 fuzzed files: load without failure, record repairs");
	free(huge);
	free(text);

	/* ---- two processes at once ---- */
	remove(path);
	enum { PER = 25 };
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			int bad = 0;
			for (int i = 0; i < PER; i++) {
				dp_find_result x = result_for(10 + i, 1 + k,
				                              DP_ALGO_DIRECT, 0);
				bad |= dp_wisdom_record(path, &x, NULL, 0) != DP_OK;
			}
			_exit(bad);
		}
	}
	int kids_ok = 1;
	for (int k = 0; k < 2; k++) {
		int st = 0;
		if (kids[k] < 0 || waitpid(kids[k], &st, 0) != kids[k] ||
		    !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			kids_ok = 0;
	}
	ok(kids_ok, "two processes recorded %d entries each", PER);
	int u = 0, nwarn = load_warnings(path, &u);
	ok(nwarn == 0 && u == 2 * PER,
	   "every entry survives (%d of %d) and the file parses", u, 2 * PER);
	int lookups = 1;
	w = NULL;
	dp_wisdom_load(path, &w);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < PER; i++) {
			dp_find_result x = result_for(10 + i, 1 + k, DP_ALGO_DIRECT, 0);
			if (dp_wisdom_lookup(w, &x.desc, &e) != DP_OK)
				lookups = 0;
		}
	dp_wisdom_free(w);
	ok(lookups, "each entry is found");
	snprintf(buf, sizeof buf, "%s/nodir/wisdom.txt", dir);
	ok(dp_wisdom_record(buf, &r, msg, sizeof msg) == DP_ERR_IO && msg[0],
	   "an unwritable path: DP_ERR_IO (%s)", msg);
	remove_tree(dir);
	return done_testing();
}
