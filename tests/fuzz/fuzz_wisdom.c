/* fuzz_wisdom.c - libFuzzer target: the wisdom-file parser.
 *
 * The input is written as a wisdom file to a per-process file under
 * $FUZZ_TMPDIR and read with dp_wisdom_load, which must succeed (damaged
 * lines are warnings, never errors). The counts, stale lines and warnings
 * must be consistent and one-line, and a lookup of a fixed problem must
 * either miss or return a valid entry for that problem. The input is then
 * copied and dp_wisdom_record adds a fixed result to the copy (lock, read,
 * merge, write, rename); the rewritten copy must load without warnings,
 * serve the recorded problem and keep no more stale lines than before. */
#include "fuzz_util.h"

#include "dpgen.h"

/* The generated kernels are not in the fuzz library: an empty registry,
 * so every problem is served by the runtime's generic kernels. */
const dp_kernel *const dp_registry[] = { NULL };
const size_t dp_registry_count = 0;

static char in_path[128], copy_path[128], lock_path[160];

/* A 6x6x2 conv with 4 3x3 filters, pad 1, direct: served by the
 * runtime's generic kernel, so dp_wisdom_record accepts it. */
static dp_find_result fixed_result(void)
{
	dp_find_result r;
	dp_desc *d = &r.desc;

	memset(&r, 0, sizeof r);
	d->op = DP_OP_CONV;
	d->algo = DP_ALGO_DIRECT;
	d->precision = DP_PREC_FP32;
	d->n = 1;
	d->h = d->w = 6;
	d->c = 2;
	d->k = 4;
	d->r = d->s = 3;
	d->stride = 1;
	d->pad_h = d->pad_w = 1;
	r.status = DP_OK;
	r.seconds = 3.25e-6;
	r.max_abs_err = 1e-6;
	r.rel_err = 2e-7;
	return r;
}

static void check_line(const char *s)
{
	if (!s || strchr(s, '\n')) {
		fprintf(stderr, "missing or multi-line string\n");
		abort();
	}
}

/* Query everything; returns the stale count. */
static int query(const dp_wisdom *w, const dp_desc *d, int want_hit)
{
	int n = dp_wisdom_count(w), ns = dp_wisdom_stale_count(w);
	int nw = dp_wisdom_warning_count(w);
	dp_wisdom_entry e;
	dp_status st;

	if (n < 0 || ns < 0 || nw < 0 || nw > 64)
		abort();
	for (int i = 0; i < ns; i++)
		check_line(dp_wisdom_stale(w, i));
	for (int i = 0; i < nw; i++)
		check_line(dp_wisdom_warning(w, i));
	if (dp_wisdom_stale(w, ns) || dp_wisdom_stale(w, -1) ||
	    dp_wisdom_warning(w, nw) || dp_wisdom_warning(w, -1))
		abort();
	memset(&e, 0xa5, sizeof e);
	st = dp_wisdom_lookup(w, d, &e);
	if (st == DP_OK) {
		char want[512], have[512];

		dp_wisdom_problem_args(d, want, sizeof want);
		dp_wisdom_problem_args(&e.desc, have, sizeof have);
		if (n < 1 || strcmp(want, have) ||
		    dp_desc_check(&e.desc, NULL, 0) != DP_OK ||
		    !memchr(e.kernel, '\0', sizeof e.kernel) || !e.kernel[0] ||
		    !(e.seconds >= 0) || !(e.max_abs_err >= 0) ||
		    !(e.rel_err >= 0))
			abort();
	} else if (st != DP_ERR_UNSUPPORTED || (want_hit && st != DP_OK)) {
		fprintf(stderr, "lookup: %s\n", dp_status_str(st));
		abort();
	}
	return ns;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dp_find_result r = fixed_result();
	char msg[FUZZ_MSG_LEN] = "";
	dp_wisdom *w = NULL, *w2 = NULL;
	dp_status st;
	int stale;

	if (!in_path[0]) {
		fuzz_tmp_path(in_path, sizeof in_path, "wisdom.txt");
		fuzz_tmp_path(copy_path, sizeof copy_path, "wisdom-copy.txt");
		snprintf(lock_path, sizeof lock_path, "%s.lock", copy_path);
	}
	fuzz_write(in_path, data, size);
	st = dp_wisdom_load(in_path, &w);
	if (st != DP_OK || !w) {
		fprintf(stderr, "load failed: %s\n", dp_status_str(st));
		abort();
	}
	stale = query(w, &r.desc, 0);
	dp_wisdom_free(w);

	/* Merge and rewrite: a copy, so the input file stays as it was. */
	fuzz_write(copy_path, data, size);
	st = dp_wisdom_record(copy_path, &r, msg, sizeof msg);
	fuzz_check_msg(msg, sizeof msg);
	if (st != DP_OK) {
		fprintf(stderr, "record failed: %s: %s\n", dp_status_str(st),
		        msg);
		abort();
	}
	st = dp_wisdom_load(copy_path, &w2);
	if (st != DP_OK || !w2 || dp_wisdom_warning_count(w2) != 0 ||
	    query(w2, &r.desc, 1) > stale) {
		fprintf(stderr, "rewritten file: %s, %d warnings (first: %s)\n",
		        dp_status_str(st), dp_wisdom_warning_count(w2),
		        dp_wisdom_warning(w2, 0) ? dp_wisdom_warning(w2, 0) :
		        "-");
		abort();
	}
	dp_wisdom_free(w2);
	unlink(copy_path);
	unlink(lock_path);
	return 0;
}
