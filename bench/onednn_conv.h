/* onednn_conv.h - oneDNN (2.x C API) forward convolution as a benchmark
 * anchor: fp32, inference, oneDNN's preferred (blocked) layouts.
 *
 * The caller's tensors stay in the dpgen convention (NCHW input and
 * output, KCRS weights, K biases). The wrapper keeps them apart from the
 * primitive's own layouts, so each cost can be timed on its own:
 *   onednn_conv_set_weights  weights + bias into the primitive's layout
 *                            (once per weights, like dpgen's prepare());
 *   onednn_conv_set_input    NCHW input into the primitive's src layout;
 *   onednn_conv_execute      the convolution primitive alone;
 *   onednn_conv_get_output   the primitive's dst layout back to NCHW.
 * Nothing is allocated after onednn_conv_create (the scratchpad is ours). */
#ifndef DP_ONEDNN_CONV_H
#define DP_ONEDNN_CONV_H

#include <stddef.h>

#include "dpgen.h"

typedef enum onednn_conv_algo {
	ONEDNN_CONV_DIRECT = 0,  /* dnnl_convolution_direct */
	ONEDNN_CONV_WINOGRAD,    /* dnnl_convolution_winograd */
	ONEDNN_CONV_AUTO,        /* dnnl_convolution_auto: oneDNN picks */
	ONEDNN_CONV_ALGO_COUNT
} onednn_conv_algo;

/* "direct", "winograd", "auto". */
const char *onednn_conv_algo_name(onednn_conv_algo a);

/* Set the number of threads oneDNN's parallel regions use, before the
 * first oneDNN call and again whenever wanted. The Debian build uses the
 * OpenMP runtime (libgomp), which reads OMP_NUM_THREADS when it is
 * loaded, i.e. before main(): setenv() is too late, so this calls
 * omp_set_num_threads(). Returns the count now in effect, or -1 when the
 * runtime offers no way to set it. */
int onednn_set_threads(int n);
/* Threads oneDNN would use now (omp_get_max_threads()), -1 if unknown. */
int onednn_max_threads(void);

/* One line: oneDNN version, CPU runtime, the ISA its JIT uses here. */
void onednn_describe(char *buf, size_t len);

typedef struct onednn_conv onednn_conv;

/* A primitive for the convolution d (its op, shape and padding; d->algo is
 * ignored). NULL when oneDNN cannot serve it, with the reason in msg. */
onednn_conv *onednn_conv_create(const dp_desc *d, onednn_conv_algo algo,
                                char *msg, size_t msg_len);
/* oneDNN's name of the implementation it chose ("jit:avx2", ...). */
const char *onednn_conv_impl(const onednn_conv *c);
/* 1 when oneDNN's chosen algorithm is Winograd (useful for "auto"). */
int onednn_conv_is_winograd(const onednn_conv *c);

/* Each returns 0 on success, else a dnnl_status_t (nonzero). */
int onednn_conv_set_weights(onednn_conv *c, const float *weights,
                            const float *bias);
int onednn_conv_set_input(onednn_conv *c, const float *input);
int onednn_conv_execute(onednn_conv *c);
int onednn_conv_get_output(onednn_conv *c, float *output);

void onednn_conv_destroy(onednn_conv *c);
/* Release the engine and stream (after every onednn_conv is destroyed). */
void onednn_shutdown(void);

#endif
