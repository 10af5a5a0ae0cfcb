/* demo.c - the main job of `make demo`: the kernel dpgen just emitted,
 * compiled into this program, run on random data and checked against the
 * fp64 reference, timed next to the generic implementation of the same
 * algorithm. Built by the Makefile with -DDEMO_KERNEL=<kernel name>. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "timing.h"
#include DEMO_HEADER

#define KERNEL DEMO_KERNEL

struct job {
	const dp_kernel *kern;
	const dp_desc *d;
	const void *state;
	const float *x;
	float *y;
	void *ws;
};

static void run_job(void *p)
{
	struct job *j = p;
	j->kern->execute(j->d, j->state, j->x, j->y, j->ws);
}

/* Deterministic N(0,1) data: same numbers on every run. */
static void fill(float *v, size_t n, unsigned seed)
{
	unsigned long long s = seed * 2654435761ull + 1;
	for (size_t i = 0; i < n; i++) {
		double u[2];
		for (int k = 0; k < 2; k++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			u[k] = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
		}
		v[i] = (float)(sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]));
	}
}

static int report(const char *label, const dp_kernel *kern, const dp_desc *d,
                  const float *x, const float *w, const float *b,
                  const double *ref, double *time_out)
{
	size_t no = (size_t)dp_conv_output_elems(d);
	void *state = malloc(kern->state_bytes(d) + 1);
	void *ws = malloc(kern->workspace_bytes(d) + 1);
	float *y = malloc(no * sizeof(float));
	if (!state || !ws || !y || kern->prepare(d, w, b, state) != DP_OK ||
	    kern->execute(d, state, x, y, ws) != DP_OK) {
		fprintf(stderr, "demo: %s failed\n", kern->name);
		return 1;
	}
	double max_err = 0, sum = 0;
	for (size_t i = 0; i < no; i++) {
		double e = fabs(y[i] - ref[i]);
		max_err = e > max_err ? e : max_err;
		sum += e;
	}
	struct job j = { kern, d, state, x, y, ws };
	*time_out = median_time(run_job, &j, 0.3);
	double flops = 2.0 * (double)no * d->c * d->r * d->s;
	printf("%-10s %-46s %10.2e %10.2e %9.2f %8.2f\n", label, kern->name,
	       max_err, sum / (double)no, *time_out * 1e6,
	       flops / *time_out * 1e-9);
	free(state);
	free(ws);
	free(y);
	return 0;
}

/* The descriptor of d's layer for another algorithm (its default
 * variant), or 0 if the algorithm cannot serve the layer. */
static int for_algo(const dp_desc *d, dp_algo a, dp_desc *out)
{
	*out = *d;
	out->algo = a;
	out->tile = 0;
	out->points[0] = '\0';
	if (a == DP_ALGO_WINOGRAD)
		out->tile = dp_winograd_default_tile(d->r);
	else if (a == DP_ALGO_FFT)
		out->tile = dp_fft_default_tile(out);
	return dp_algo_op(a) == DP_OP_CONV &&
	       dp_desc_check(out, NULL, 0) == DP_OK;
}

int main(void)
{
	const dp_kernel *gen = &KERNEL;
	const dp_desc *d = &gen->desc;
	size_t ni = (size_t)dp_conv_input_elems(d);
	size_t nw = (size_t)dp_conv_weight_elems(d);
	size_t no = (size_t)dp_conv_output_elems(d);
	float *x = malloc(ni * 4), *w = malloc(nw * 4), *b = malloc(d->k * 4u);
	double *ref = malloc(no * 8);
	double t_gen, t;
	if (!x || !w || !b || !ref)
		return 1;
	fill(x, ni, 1);
	fill(w, nw, 2);
	fill(b, (size_t)d->k, 3);
	dp_ref_conv2d(d, x, w, b, ref);
	printf("\nconv %dx%dx%d (HxWxC), %d filters %dx%d, stride %d, pad "
	       "%dx%d, batch %d, fp32; random N(0,1) data\n", d->h, d->w, d->c,
	       d->k, d->r, d->s, d->stride, d->pad_h, d->pad_w, d->n);
	printf("errors against the fp64 reference; time is the median of "
	       "repeated runs, single thread\n\n");
	printf("%-10s %-46s %10s %10s %9s %8s\n", "version", "kernel",
	       "max|err|", "mean|err|", "time(us)", "GFLOP/s");
	if (report("just made", gen, d, x, w, b, ref, &t_gen))
		return 1;
	/* Every algorithm for the same layer: the kernel built into the
	 * library for this shape (make regen's set) and the generic one. */
	for (int a = 0; a < DP_ALGO_COUNT; a++) {
		dp_desc da;
		if (!for_algo(d, (dp_algo)a, &da))
			continue;
		const dp_kernel *reg = dp_registry_find(&da);
		if (reg && strcmp(reg->name, gen->name) != 0 &&
		    report("built in", reg, &da, x, w, b, ref, &t))
			return 1;
		const dp_kernel *generic = dp_generic_kernel(&da);
		if (generic && report("generic", generic, &da, x, w, b, ref, &t))
			return 1;
	}
	printf("\n\"just made\" is the kernel dpgen emitted a moment ago, "
	       "compiled into this program.\n");
	free(x);
	free(w);
	free(b);
	free(ref);
	return 0;
}
