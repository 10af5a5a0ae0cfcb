/* fftw_plans.h - the process-wide cache of FFTW r2c/c2r plans shared by
 * fft-fftw (conv_fftw.c) and its emulation (emul_conv.c). FFTW's planner
 * is not thread-safe: every plan in the process is made here, under one
 * mutex. Internal to the runtime. */
#ifndef DP_FFTW_PLANS_H
#define DP_FFTW_PLANS_H

#include <fftw3.h>

/* Plans for LH x LW real transforms, made once (FFTW_ESTIMATE, see
 * conv_fftw.c) and kept for the life of the process; run them with the
 * new-array execute functions on 64-byte aligned arrays. */
typedef struct dp_fftw_plan {
	int lh, lw;
	fftwf_plan fwd, inv;
	struct dp_fftw_plan *next;
} dp_fftw_plan;

/* NULL if FFTW could not make them (out of memory). */
const dp_fftw_plan *dp_fftw_plan_get(int lh, int lw);

#endif
