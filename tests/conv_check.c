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

double conv_check(const dp_kernel *kern, const dp_desc *d, uint64_t seed,
                  char *note, size_t note_len)
{
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d->k * 4u);
	float *y = malloc(no * 4);
	double *ref = malloc(no * 8), *mag = malloc(no * 8);
	float *ax = NULL, *aw = NULL, *ab = NULL;
	double worst = -1;
	rng_t r;
	if (!x || !w || !b || !y || !ref || !mag)
		goto out;
	rng_seed(&r, seed);
	fill_normal(&r, x, ni);
	fill_normal(&r, w, nw);
	fill_normal(&r, b, (size_t)d->k);
	for (size_t i = 0; i < no; i++)
		y[i] = NAN;   /* an output the kernel forgets stays NaN */
	ax = fabs_copy(x, ni);
	aw = fabs_copy(w, nw);
	ab = fabs_copy(b, (size_t)d->k);
	if (!ax || !aw || !ab)
		goto out;
	dp_status st = dp_kernel_run(kern, d, x, w, b, y);
	if (st != DP_OK) {
		snprintf(note, note_len, "kernel failed: %s", dp_status_str(st));
		goto out;
	}
	dp_ref_conv2d(d, x, w, b, ref);
	dp_ref_conv2d(d, ax, aw, ab, mag);
	int terms = d->c * d->r * d->s + 1;
	worst = 0;
	size_t at = 0;
	for (size_t i = 0; i < no; i++) {
		double bound = dot_error_bound(terms, mag[i]);
		double e = fabs((double)y[i] - ref[i]);
		/* An exact result (bound 0) must be exact; NaN fails. */
		double ratio = e == 0 ? 0 : bound > 0 ? e / bound : INFINITY;
		if (!(ratio <= worst)) {
			worst = isnan(ratio) ? INFINITY : ratio;
			at = i;
		}
	}
	err_stats es = compare(y, ref, no);
	snprintf(note, note_len, "max err %.3g (mean %.3g), worst err/bound %.3g "
	         "at output %zu", es.max_abs_err, es.mean_abs_err, worst, at);
out:
	free(x); free(w); free(b); free(y); free(ref); free(mag);
	free(ax); free(aw); free(ab);
	return worst;
}
