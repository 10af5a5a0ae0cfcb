/* edge_common.h - the kernels t_edge_values and t_determinism run: every
 * algorithm, the exact-shape generated kernel when the library has one
 * (small enough to check quickly) and the generic one on the same shape,
 * plus shapes and Winograd tiles the registry lacks (generic, and
 * generated on the fly with dpgen when dir is given). Header-only, so
 * the Makefile's test rule (one .c plus tests/util.c) builds both. */
#ifndef DP_EDGE_COMMON_H
#define DP_EDGE_COMMON_H

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "util.h"

typedef struct subject {
	const dp_kernel *k;
	dp_desc d;
	int generated;          /* 1: a generated kernel, 0: generic */
	char name[224];         /* for the TAP lines */
	size_t ni, nw, nb, no;  /* input, weight, bias, output elements */
} subject;

#define MAX_SUBJECTS 64
/* Registered kernels above this many multiply-adds are skipped: the
 * fp64 reference runs several times per kernel. */
#define MAX_MACS 30000000.0

static double subject_macs(const dp_desc *d)
{
	if (d->op == DP_OP_MATMUL)
		return (double)d->mm_m * d->mm_k * d->mm_n;
	return (double)dp_conv_output_elems(d) * d->c * d->r * d->s;
}

static void subject_add(subject *s, int *n, const dp_kernel *k,
                        const dp_desc *d, int generated)
{
	char args[512];
	if (!k || *n >= MAX_SUBJECTS)
		return;
	subject *t = &s[(*n)++];
	memset(t, 0, sizeof *t);
	t->k = k;
	t->d = *d;
	t->generated = generated;
	desc_args(d, args, sizeof args);
	snprintf(t->name, sizeof t->name, "%s %.200s", generated ? "generated"
	         : "generic", generated ? k->name : args);
	if (d->op == DP_OP_MATMUL) {
		t->ni = (size_t)d->mm_m * d->mm_k;
		t->nw = (size_t)d->mm_k * d->mm_n;
		t->nb = 0;
		t->no = (size_t)d->mm_m * d->mm_n;
	} else {
		t->ni = (size_t)dp_conv_input_elems(d);
		t->nw = (size_t)dp_conv_weight_elems(d);
		t->nb = (size_t)d->k;
		t->no = (size_t)dp_conv_output_elems(d);
	}
}

static dp_desc conv_d(dp_algo a, int n, int c, int h, int w, int k, int r,
                      int s, int st, int ph, int pw, int tile)
{
	dp_desc d = { .op = DP_OP_CONV, .algo = a, .precision = DP_PREC_FP32 };
	d.n = n; d.c = c; d.h = h; d.w = w; d.k = k; d.r = r; d.s = s;
	d.stride = st; d.pad_h = ph; d.pad_w = pw; d.tile = tile;
	return d;
}

static dp_desc mm_d(dp_algo a, int m, int k, int n)
{
	dp_desc d = { .op = DP_OP_MATMUL, .algo = a,
	              .precision = DP_PREC_FP32 };
	d.mm_m = m; d.mm_k = k; d.mm_n = n;
	return d;
}

/* Every subject; dir non-NULL: also build Winograd F(2,3), F(6,3) and
 * F(4,5) with dpgen (the registry has F(4,3) only). Returns the count. */
static int collect_subjects(subject *s, const char *dir)
{
	int n = 0;
	char err[2048];
	for (size_t i = 0; i < dp_registry_count; i++) {
		const dp_kernel *k = dp_registry[i];
		/* fp32 only: an emulated precision rounds the bias, saturates
		 * or overflows by its format's rules, which t_emul_conv,
		 * t_emul_matmul and t_precision_gen check. */
		if (subject_macs(&k->desc) > MAX_MACS ||
		    k->desc.precision != DP_PREC_FP32)
			continue;
		subject_add(s, &n, k, &k->desc, 1);
		subject_add(s, &n, dp_generic_kernel(&k->desc), &k->desc, 0);
	}
	/* Algorithms and variants without a (small) registered kernel, on
	 * odd shapes with batch 2. */
	dp_desc extra[] = {
		conv_d(DP_ALGO_IM2COL, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 0),
		conv_d(DP_ALGO_IM2COL_BLAS, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 0),
		conv_d(DP_ALGO_IM2COL_BLAS, 2, 2, 13, 11, 3, 3, 5, 2, 1, 2, 0),
		conv_d(DP_ALGO_WINOGRAD, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 2),
		conv_d(DP_ALGO_WINOGRAD, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 4),
		conv_d(DP_ALGO_WINOGRAD, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 6),
		conv_d(DP_ALGO_WINOGRAD, 2, 2, 12, 11, 3, 5, 5, 1, 2, 2, 4),
		conv_d(DP_ALGO_FFT, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 8),
		conv_d(DP_ALGO_FFT_FFTW, 2, 3, 14, 13, 4, 3, 3, 1, 1, 1, 0),
		conv_d(DP_ALGO_FFT_FFTW, 1, 3, 28, 28, 16, 3, 3, 1, 1, 1, 0),
		mm_d(DP_ALGO_NAIVE, 33, 47, 29),
		mm_d(DP_ALGO_GEMM, 33, 47, 29),
		mm_d(DP_ALGO_LOG, 17, 33, 9),
		mm_d(DP_ALGO_LNS, 17, 33, 9),
	};
	extra[12].frac_bits = 8;              /* log F = 8 */
	extra[13].frac_bits = 6;              /* lns F = 6, W = 64, B = 6 */
	extra[13].acc_bits = 64;
	extra[13].bin_bits = 6;
	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		subject_add(s, &n, dp_generic_kernel(&extra[i]), &extra[i], 0);
	dp_desc svd = mm_d(DP_ALGO_SVD, 33, 47, 29);
	svd.rank_b = 29;                      /* full rank */
	subject_add(s, &n, dp_generic_kernel(&svd), &svd, 0);
	if (!dir)
		return n;
	/* Generated Winograd tiles the registry lacks, built now. */
	const int built[] = { 3, 5, 6 };   /* F(2,3), F(6,3), F(4,5) */
	for (size_t i = 0; i < sizeof built / sizeof built[0]; i++) {
		const dp_desc *d = &extra[built[i]];
		const dp_kernel *k = build_kernel(d, dir, err, sizeof err);
		if (!ok(k != NULL, "dpgen builds Winograd F(%d,%d)", d->tile,
		        d->r))
			diag("%s", err);
		subject_add(s, &n, k, d, 1);
	}
	return n;
}

#endif
