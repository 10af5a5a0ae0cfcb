/* t_tune.c - dpgen tune: hostile command lines (one line on stderr naming
 * the argument, exit 2, no wisdom written) and a run on a tiny layer with
 * --csv (header, rows sorted by time) and --wisdom. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "util.h"

#define MAX_ARGV 24

static const struct row {
	const char *what;
	const char *argv[MAX_ARGV];
	const char *want;
} rows[] = {
	{ "missing --shape", { "--op", "conv", "--filters", "4" }, "--shape" },
	{ "missing --op", { "--shape", "8x8x2" }, "--op" },
	{ "unknown --op", { "--op", "pool", "--shape", "8x8x2" }, "--op" },
	{ "--max-error -1", { "--op", "conv", "--shape", "8x8x2",
	  "--max-error", "-1" }, "--max-error" },
	{ "--max-error abc", { "--op", "conv", "--shape", "8x8x2",
	  "--max-error", "abc" }, "--max-error" },
	{ "--max-error inf", { "--op", "conv", "--shape", "8x8x2",
	  "--max-error", "inf" }, "--max-error" },
	{ "unwritable --wisdom", { "--op", "conv", "--shape", "8x8x2",
	  "--wisdom", "@D/no/such/dir/w.txt" }, "--wisdom" },
	{ "--wisdom is a directory", { "--op", "conv", "--shape", "8x8x2",
	  "--wisdom", "@D" }, "--wisdom" },
	{ "--algo is not taken", { "--op", "conv", "--algo", "direct",
	  "--shape", "8x8x2" }, "--algo" },
	{ "bad --shape", { "--op", "conv", "--shape", "8x8" }, "--shape" },
	{ "bad --filters", { "--op", "conv", "--shape", "8x8x2", "--filters",
	  "0" }, "--filters" },
	{ "--filters with matmul", { "--op", "matmul", "--shape", "8x8x8",
	  "--filters", "4" }, "--filters" },
	{ "--csv with a value", { "--op", "conv", "--shape", "8x8x2",
	  "--csv=1" }, "--csv" },
};

/* one_line: exactly one line, ending in a newline. */
static int one_line(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && s[n - 1] == '\n' && !memchr(s, '\n', n - 1);
}

int main(void)
{
	char dirbuf[512];
	char *dir = make_temp_dir(dirbuf, sizeof dirbuf);
	if (!dir) {
		ok(0, "temporary directory");
		return done_testing();
	}
	char subst[MAX_ARGV][600];
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		char *argv[MAX_ARGV + 3];
		int n = 0;
		argv[n++] = (char *)dpgen_path();
		argv[n++] = "tune";
		for (int j = 0; rows[i].argv[j]; j++) {
			const char *a = rows[i].argv[j];
			if (!strncmp(a, "@D", 2)) {
				snprintf(subst[j], sizeof subst[j], "%s%s", dir, a + 2);
				a = subst[j];
			}
			argv[n++] = (char *)a;
		}
		argv[n] = NULL;
		char out[4096];
		int rc = run_capture(argv, out, sizeof out);
		int good = rc == 2 && one_line(out) &&
		           !strncmp(out, "dpgen: ", 7) && strstr(out, rows[i].want);
		ok(good, "%s: exit 2, one line naming %s", rows[i].what,
		   rows[i].want);
		if (!good)
			diag("exit %d: %s", rc, out);
	}
	ok(dir_entries(dir) == 0, "nothing was written");

	/* A tiny layer, CSV, wisdom. */
	char wis[700], cmd[2048], csv[700];
	snprintf(wis, sizeof wis, "%s/w.txt", dir);
	snprintf(csv, sizeof csv, "%s/out.csv", dir);
	snprintf(cmd, sizeof cmd, "'%s' tune --op conv --shape 8x8x2 "
	         "--filters 4 --csv --wisdom '%s' > '%s'", dpgen_path(), wis,
	         csv);
	char err[8192];
	int rc = sh_capture(cmd, err, sizeof err);
	ok(rc == 0, "tune --csv on 8x8x2 exits 0");
	ok(strstr(err, "measuring") != NULL, "progress on stderr");
	char *text = slurp(csv, NULL);
	const char *head = "rank,algorithm,variant,kernel,generated,"
		"approximate,time_us,gflops,workspace_bytes,state_bytes,"
		"max_abs_err,mean_abs_err,rel_err,reps,chosen,status,message\n";
	ok(text && !strncmp(text, head, strlen(head)), "CSV header");
	int rows_n = 0, sorted = 1, chosen = 0, ok_rows = 0, after_bad = 0;
	double last = 0;
	for (char *l = text ? strchr(text, '\n') : NULL; l && l[1];
	     l = strchr(l + 1, '\n')) {
		char line[1024];
		snprintf(line, sizeof line, "%.*s", (int)strcspn(l + 1, "\n"),
		         l + 1);
		rows_n++;
		/* field 7 (1-based) is time_us, field 15 chosen */
		char *f = line;
		double t = -1;
		int ch = 0;
		for (int k = 1; f && k <= 15; k++) {
			if (k == 7 && *f != ',')
				t = atof(f);
			if (k == 15)
				ch = atoi(f);
			/* quoted fields ("F(2,3)") may hold commas */
			int quoted = 0;
			while (*f && (quoted || *f != ','))
				quoted ^= *f++ == '"';
			f = *f ? f + 1 : NULL;
		}
		chosen += ch;
		if (t >= 0) {
			ok_rows++;
			if (after_bad || t < last)
				sorted = 0;
			last = t;
		} else {
			after_bad = 1;
		}
	}
	ok(rows_n >= 10 && ok_rows >= 10, "%d rows, %d measured", rows_n,
	   ok_rows);
	ok(sorted, "rows sorted by time, not applicable last");
	ok(chosen == 1, "one row chosen");
	free(text);
	text = slurp(wis, NULL);
	ok(text && strstr(text, "problem=--op conv --shape 8x8x2 --filters 4")
	   && strstr(text, "choice=--algo "), "the winner is in the wisdom "
	   "file");
	free(text);
	/* The table form names the winner. */
	snprintf(cmd, sizeof cmd, "'%s' tune --op matmul --shape 8x16x8 "
	         "2>/dev/null", dpgen_path());
	char out[8192];
	rc = sh_capture(cmd, out, sizeof out);
	ok(rc == 0 && strstr(out, "rank") && strstr(out, "winner: ") &&
	   strstr(out, "gemm") && strstr(out, "naive"), "matmul table");
	snprintf(cmd, sizeof cmd, "'%s' tune --op conv --shape 8x8x2 "
	         "--max-error 0 > /dev/null", dpgen_path());
	rc = sh_capture(cmd, out, sizeof out);
	ok(rc == 1 && strstr(out, "--max-error"), "--max-error 0: exit 1, "
	   "no algorithm meets it");
	remove_tree(dir);
	return done_testing();
}
