/* conv_check.c - see conv_check.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conv_check.h"

static float *fabs_copy(const float *x, size_t n)
{
	float *y = malloc(n * sizeof(float) + 1);
	for (size_t i = 0; y && i < n; i++)
		y[i] = fabsf(x[i]);
	return y;
}

/* Higham's bound for a float sum of C*R*S products and the bias. */
static int higham_bound(const dp_desc *d, const float *x, const float *w,
                        const float *b, const double *ref, double *bound)
{
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *ax = fabs_copy(x, ni), *aw = fabs_copy(w, nw);
	float *ab = fabs_copy(b, (size_t)d->k);
	int rc = -1;
	(void)ref;
	if (ax && aw && ab && dp_ref_conv2d(d, ax, aw, ab, bound) == DP_OK) {
		int terms = d->c * d->r * d->s + 1;
		for (size_t i = 0; i < no; i++)
			bound[i] = dot_error_bound(terms, bound[i]);
		rc = 0;
	}
	free(ax); free(aw); free(ab);
	return rc;
}

double conv_check(const dp_kernel *kern, const dp_desc *d, uint64_t seed,
                  char *note, size_t note_len)
{
	conv_result r = conv_check_bound(kern, d, seed, higham_bound);
	snprintf(note, note_len, "%s", r.note);
	return r.worst;
}

conv_result conv_check_bound(const dp_kernel *kern, const dp_desc *d,
                             uint64_t seed, conv_bound_fn bound_fn)
{
	conv_result res = { -1, 0, 0, "" };
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d->k * 4u);
	float *y = malloc(no * 4);
	double *ref = malloc(no * 8), *bound = malloc(no * 8);
	rng_t r;
	if (!x || !w || !b || !y || !ref || !bound) {
		snprintf(res.note, sizeof res.note, "out of memory");
		goto out;
	}
	rng_seed(&r, seed);
	fill_normal(&r, x, ni);
	fill_normal(&r, w, nw);
	fill_normal(&r, b, (size_t)d->k);
	for (size_t i = 0; i < no; i++)
		y[i] = NAN;   /* an output the kernel forgets stays NaN */
	dp_status st = dp_kernel_run(kern, d, x, w, b, y);
	if (st != DP_OK) {
		snprintf(res.note, sizeof res.note, "kernel failed: %s",
		         dp_status_str(st));
		goto out;
	}
	if (dp_ref_conv2d(d, x, w, b, ref) != DP_OK ||
	    bound_fn(d, x, w, b, ref, bound) != 0) {
		snprintf(res.note, sizeof res.note, "reference failed");
		goto out;
	}
	size_t at = 0;
	res.worst = 0;
	for (size_t i = 0; i < no; i++) {
		double e = fabs((double)y[i] - ref[i]);
		/* An exact result (bound 0) must be exact; NaN fails. */
		double ratio = e == 0 ? 0 : bound[i] > 0 ? e / bound[i] : INFINITY;
		if (!(ratio <= res.worst)) {
			res.worst = isnan(ratio) ? INFINITY : ratio;
			at = i;
		}
	}
	err_stats es = compare(y, ref, no);
	res.max_err = es.max_abs_err;
	res.mean_err = es.mean_abs_err;
	snprintf(res.note, sizeof res.note, "max err %.3g (mean %.3g), worst "
	         "err/bound %.3g at output %zu", es.max_abs_err,
	         es.mean_abs_err, res.worst, at);
out:
	free(x); free(w); free(b); free(y); free(ref); free(bound);
	return res;
}
