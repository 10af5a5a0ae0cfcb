/* tune.c - dpgen tune: measure every algorithm and variant for one
 * problem, print them fastest first, record the winner in a wisdom file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

static void progress(void *user, int done, int total, const char *what)
{
	(void)user;
	if (done < total)
		fprintf(stderr, "\rdpgen tune: [%2d/%d] measuring %-24s", done + 1,
		        total, what);
	else
		fprintf(stderr, "\rdpgen tune: [%d/%d] done%-34s\n", total, total,
		        "");
	fflush(stderr);
}

/* The wisdom file must be creatable: its directory exists and is
 * writable, and the path is not a directory or a read-only file. */
static int check_wisdom_path(const char *path, char *err, size_t len)
{
	char dir[4096];
	struct stat st;
	if (strlen(path) >= sizeof dir) {
		snprintf(err, len, "--wisdom '%.60s...' is too long", path);
		return -1;
	}
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    access(dir, W_OK | X_OK) != 0) {
		snprintf(err, len, "--wisdom '%.400s': directory '%.400s' %s (give a "
		         "file in a writable directory)", path, dir,
		         stat(dir, &st) != 0 ? "does not exist" :
		         !S_ISDIR(st.st_mode) ? "is not a directory" :
		         "is not writable");
		return -1;
	}
	if (stat(path, &st) == 0 && (!S_ISREG(st.st_mode) ||
	                             access(path, R_OK | W_OK) != 0)) {
		snprintf(err, len, "--wisdom '%.400s' is %s (give a wisdom file "
		         "that can be read and written)", path,
		         S_ISDIR(st.st_mode) ? "a directory" :
		         !S_ISREG(st.st_mode) ? "not a regular file" :
		         "not readable and writable");
		return -1;
	}
	return 0;
}

static void human_bytes(size_t b, char *buf, size_t len)
{
	if (b < 1024)
		snprintf(buf, len, "%zu B", b);
	else if (b < 1024 * 1024)
		snprintf(buf, len, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, len, "%.1f MiB", b / (1024.0 * 1024.0));
}

static void csv_field(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
}

static void print_csv(const dp_find_result *r, int n, int chosen)
{
	printf("rank,algorithm,variant,kernel,generated,approximate,time_us,"
	       "gflops,workspace_bytes,state_bytes,max_abs_err,mean_abs_err,"
	       "rel_err,reps,chosen,status,message\n");
	for (int i = 0; i < n; i++) {
		const dp_find_result *x = &r[i];
		int ok = x->status == DP_OK;
		printf("%d,%s,", i + 1, dp_algo_name(x->desc.algo));
		csv_field(x->variant);
		putchar(',');
		csv_field(x->kernel);
		printf(",%d,%d,", x->generated, x->approximate);
		if (ok)
			printf("%.3f,%.3f,%zu,%zu,%.3e,%.3e,%.3e,%d,", x->seconds * 1e6,
			       x->gflops, x->workspace_bytes, x->state_bytes,
			       x->max_abs_err, x->mean_abs_err, x->rel_err, x->reps);
		else
			printf(",,,,,,,,");
		printf("%d,%s,", i == chosen, ok ? "ok" : "not applicable");
		csv_field(x->message);
		putchar('\n');
	}
}

static void print_table(const dp_desc *d, const dp_find_result *r, int n,
                        int chosen)
{
	char prob[512];
	dp_wisdom_problem_args(d, prob, sizeof prob);
	printf("dpgen tune %s --precision %s\n", prob,
	       dp_precision_name(d->precision));
	printf("%-4s %-12s %-10s %-9s %10s %9s %10s %9s %9s %9s  %s\n", "rank",
	       "algorithm", "variant", "kernel", "time(us)", "GFLOP/s",
	       "workspace", "max|err|", "mean|err|", "rel err", "status");
	for (int i = 0; i < n; i++) {
		const dp_find_result *x = &r[i];
		char ws[32], rank[16];
		snprintf(rank, sizeof rank, "%s%d", i == chosen ? "*" : "", i + 1);
		if (x->status != DP_OK) {
			printf("%-4s %-12s %-10s %-9s %10s %9s %10s %9s %9s %9s  %s\n",
			       rank, dp_algo_name(x->desc.algo), x->variant, "-", "-",
			       "-", "-", "-", "-", "-", x->message);
			continue;
		}
		human_bytes(x->workspace_bytes, ws, sizeof ws);
		printf("%-4s %-12s %-10s %-9s %10.2f %9.2f %10s %9.2e %9.2e "
		       "%9.2e  ok%s\n", rank, dp_algo_name(x->desc.algo),
		       x->variant, x->generated ? "generated" : "generic",
		       x->seconds * 1e6, x->gflops, ws, x->max_abs_err,
		       x->mean_abs_err, x->rel_err,
		       x->approximate ? " (approximate)" : "");
	}
}

int cmd_tune(int argc, char **argv)
{
	cli_opts o;
	dp_desc d;
	char err[CLI_ERR_LEN * 2];
	if (cli_parse(argc, argv, MODE_TUNE, &o, err, sizeof err))
		return usage_fail(err);
	if (o.help) {
		cli_help(MODE_TUNE);
		return 0;
	}
	if (!o.op)
		return usage_fail("tune: missing --op (allowed: conv, matmul)");
	dp_op op;
	if (dp_op_parse(o.op, &op) != DP_OK) {
		snprintf(err, sizeof err, "tune: --op '%s' is unknown (allowed: "
		         "conv, matmul)", o.op);
		return usage_fail(err);
	}
	/* The problem is what a generation command would describe; the
	 * algorithm is what tune chooses. */
	cli_opts g = o;
	g.algo = op == DP_OP_CONV ? "direct" : "gemm";
	if (cli_gen_desc(&g, &d, err, sizeof err)) {
		char line[sizeof err + 8];
		snprintf(line, sizeof line, "tune: %s", err);
		return usage_fail(line);
	}
	double budget = -1;
	if (o.max_error) {
		char *end;
		errno = 0;
		budget = strtod(o.max_error, &end);
		if (end == o.max_error || *end || errno == ERANGE ||
		    !isfinite(budget) || budget < 0) {
			snprintf(err, sizeof err, "tune: --max-error '%s' is not "
			         "allowed (allowed: a relative error >= 0, e.g. "
			         "1e-4)", o.max_error);
			return usage_fail(err);
		}
	}
	/* --threads N: every candidate is measured on up to N threads (else
	 * DP_NUM_THREADS, else 1). */
	if (o.threads) {
		int nt;
		if (cli_int("--threads", o.threads, 1, DP_MAX_THREADS, &nt, err,
		            sizeof err)) {
			char line[sizeof err + 8];
			snprintf(line, sizeof line, "tune: %s", err);
			return usage_fail(line);
		}
		dp_set_num_threads(nt);
	}
	if (o.wisdom && check_wisdom_path(o.wisdom, err, sizeof err)) {
		char line[sizeof err + 8];
		snprintf(line, sizeof line, "tune: %s", err);
		return usage_fail(line);
	}

	dp_find_opts fo = { 0 };
	fo.progress = progress;
	dp_find_result res[DP_FIND_MAX];
	int n = 0;
	dp_status st = op == DP_OP_CONV ?
		dp_find_conv(&d, &fo, res, DP_FIND_MAX, &n) :
		dp_find_matmul(&d, &fo, res, DP_FIND_MAX, &n);
	if (st != DP_OK) {
		fprintf(stderr, "dpgen: tune: measuring failed: %s\n",
		        dp_status_str(st));
		return 1;
	}
	int chosen = -1;
	for (int i = 0; i < n && chosen < 0; i++)
		if (res[i].status == DP_OK && !res[i].approximate &&
		    (budget < 0 || res[i].rel_err <= budget))
			chosen = i;
	if (o.csv)
		print_csv(res, n, chosen);
	else
		print_table(&d, res, n, chosen);
	if (chosen < 0) {
		fprintf(stderr, "dpgen: tune: no algorithm meets --max-error %s "
		        "(%s)\n", o.max_error ? o.max_error : "-",
		        dp_status_str(DP_ERR_BUDGET));
		return 1;
	}
	if (!o.csv)
		printf("winner: %s%s%s (%s): %.2f us, rel err %.2e\n",
		       dp_algo_name(res[chosen].desc.algo),
		       res[chosen].variant[0] ? " " : "", res[chosen].variant,
		       res[chosen].kernel, res[chosen].seconds * 1e6,
		       res[chosen].rel_err);
	if (o.wisdom) {
		dp_wisdom *w = NULL;
		if (dp_wisdom_load(o.wisdom, &w) == DP_OK) {
			for (int i = 0; i < dp_wisdom_warning_count(w); i++)
				fprintf(stderr, "dpgen: warning: %s: %s\n", o.wisdom,
				        dp_wisdom_warning(w, i));
			if (dp_wisdom_stale_count(w))
				fprintf(stderr, "dpgen: %s: %d stale line%s (another "
				        "machine or build) kept, not used\n", o.wisdom,
				        dp_wisdom_stale_count(w),
				        dp_wisdom_stale_count(w) == 1 ? "" : "s");
		}
		dp_wisdom_free(w);
		char msg[512];
		if (dp_wisdom_record(o.wisdom, &res[chosen], msg, sizeof msg) !=
		    DP_OK) {
			fprintf(stderr, "dpgen: tune: --wisdom: %s\n", msg);
			return 1;
		}
		if (!o.csv)
			printf("recorded in %s\n", o.wisdom);
	}
	return 0;
}
