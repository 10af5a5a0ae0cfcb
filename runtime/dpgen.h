/* dpgen.h - public interface of libdpgen, the dpgen runtime.
 *
 * Conventions (the PyTorch ones, so results can be checked against it):
 *   convolution: NCHW float32 input, KCRS (OIHW) weights, one bias per
 *   output channel, cross-correlation (no kernel flip), symmetric zero
 *   padding, equal stride in both directions;
 *   matmul: row-major C[M x N] = A[M x K] * B[K x N].
 * Every function returns a dp_status; library code never exits.
 */
#ifndef DPGEN_H
#define DPGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DP_VERSION "0.1.0"

typedef enum dp_status {
	DP_OK = 0,
	DP_ERR_ARG,          /* an argument is out of range or inconsistent */
	DP_ERR_NOMEM,        /* an allocation failed */
	DP_ERR_UNSUPPORTED,  /* the algorithm cannot serve this descriptor */
	DP_ERR_IO,           /* a file could not be read or written */
	DP_ERR_FORMAT        /* a file's content is not what was expected */
} dp_status;

const char *dp_status_str(dp_status s);

typedef enum dp_op { DP_OP_CONV = 0, DP_OP_MATMUL } dp_op;

typedef enum dp_algo {
	DP_ALGO_DIRECT = 0,  /* conv: direct loops */
	DP_ALGO_NAIVE,       /* matmul: triple loop */
	DP_ALGO_GEMM,        /* matmul: packed, register-blocked GEMM */
	DP_ALGO_WINOGRAD,    /* conv: Winograd F(m x m, r x r) */
	DP_ALGO_IM2COL,      /* conv: column matrix + the generated GEMM */
	DP_ALGO_IM2COL_BLAS, /* conv: column matrix + OpenBLAS sgemm */
	DP_ALGO_FFT,         /* conv: tiled FFT, generated codelets */
	DP_ALGO_FFT_FFTW,    /* conv: whole-image FFTW3 plans */
	DP_ALGO_SVD,         /* matmul: rank-k factors of B (and/or A) */
	DP_ALGO_LOG,         /* matmul: log-domain products, linear sums */
	DP_ALGO_LNS,         /* matmul: log-domain accumulation (US 2021/0056446) */
	DP_ALGO_COUNT
} dp_algo;

typedef enum dp_precision { DP_PREC_FP32 = 0, DP_PREC_COUNT } dp_precision;

/* Names as used on the command line ("direct", "fp32"); NULL if unknown. */
const char *dp_op_name(dp_op op);
const char *dp_algo_name(dp_algo a);
const char *dp_precision_name(dp_precision p);
/* The operator an algorithm computes. */
dp_op dp_algo_op(dp_algo a);
/* 1 if dpgen can generate a specialized kernel for the algorithm, 0 if
 * it exists only as a runtime implementation (a baseline). */
int dp_algo_generated(dp_algo a);
/* Reverse lookups; return DP_ERR_ARG for an unknown name. */
dp_status dp_op_parse(const char *s, dp_op *out);
dp_status dp_algo_parse(const char *s, dp_algo *out);
dp_status dp_precision_parse(const char *s, dp_precision *out);

#define DP_POINTS_LEN 96

/* One problem: operator, algorithm, shape, precision. For DP_OP_MATMUL
 * only m, k, n are used. All sizes are at least 1. */
typedef struct dp_desc {
	dp_op op;
	dp_algo algo;
	dp_precision precision;
	/* convolution */
	int n, c, h, w;   /* input batch, channels, height, width */
	int k, r, s;      /* filters, kernel height, kernel width */
	int stride;       /* same in both directions */
	int pad_h, pad_w; /* zeros added on each side */
	/* matmul */
	int mm_m, mm_k, mm_n;
	/* algorithm variant */
	int tile;         /* winograd: output tile m of F(m x m, r x r);
	                   * fft: the FFT size T of a tile (T x T) */
	char points[DP_POINTS_LEN]; /* winograd: the alpha - 1 finite
	                   * interpolation points, "0,1,-1,1/2"; "" = default */
	int rank_a, rank_b; /* svd: ranks kept of A and of B (0: that operand
	                   * is not factorized; at least one is) */
	int frac_bits;    /* log, lns: fractional bits F of log2|x|, or
	                   * DP_LOG_EXACT (log: float log2) */
	int acc_bits;     /* lns: accumulator width in bits */
	int bin_bits;     /* lns: remainder bits that choose a bin: F for exact
	                   * bins, fewer for the Mitchell variant */
} dp_desc;

#define DP_LOG_EXACT (-1)
#define DP_LOG_MAX_FRAC 23
#define DP_LNS_MAX_FRAC 12

/* Limits that keep every index and size computation inside int64 and
 * every tensor addressable with int: each size <= DP_MAX_DIM and each
 * tensor's element count <= DP_MAX_ELEMS. */
#define DP_MAX_DIM 65536
#define DP_MAX_ELEMS ((int64_t)1 << 28)

/* Output size of a convolution: (h + 2*pad_h - r) / stride + 1. */
int dp_conv_out_h(const dp_desc *d);
int dp_conv_out_w(const dp_desc *d);

/* Winograd: the largest alpha = m + r - 1 supported, and the default
 * output tile for an r x r kernel (the generator and runtime agree). */
#define DP_WINOGRAD_MAX_ALPHA 8
int dp_winograd_default_tile(int r);

/* FFT tiles: T x T transforms, T a power of two in this range, at least
 * the kernel size; the default minimizes the estimated work. */
#define DP_FFT_MIN_TILE 8
#define DP_FFT_MAX_TILE 64
int dp_fft_default_tile(const dp_desc *d);

/* Check a descriptor; on failure write a one-line reason into msg. */
dp_status dp_desc_check(const dp_desc *d, char *msg, size_t msg_len);

/* Element counts of the tensors of a valid descriptor. */
int64_t dp_conv_input_elems(const dp_desc *d);
int64_t dp_conv_weight_elems(const dp_desc *d);
int64_t dp_conv_output_elems(const dp_desc *d);

/* ---- the kernel contract: every algorithm, generated or generic ---- */

typedef struct dp_kernel {
	const char *name;       /* the kernel's full name */
	dp_desc desc;           /* the problem it was specialized to */
	int generic;            /* 1: serves any shape of its algorithm */
	/* Bytes of per-weights state; prepare() fills it once per weights. */
	size_t (*state_bytes)(const dp_desc *d);
	dp_status (*prepare)(const dp_desc *d, const float *weights,
	                     const float *bias, void *state);
	/* Bytes of per-call scratch; execute() allocates nothing. */
	size_t (*workspace_bytes)(const dp_desc *d);
	dp_status (*execute)(const dp_desc *d, const void *state,
	                     const float *input, float *output, void *workspace);
} dp_kernel;

/* The kernels compiled into the library (generated/registry.c). */
extern const dp_kernel *const dp_registry[];
extern const size_t dp_registry_count;

/* The exact-shape generated kernel for d, or NULL if none. */
const dp_kernel *dp_registry_find(const dp_desc *d);
/* The runtime-shaped implementation of d's algorithm, or NULL. */
const dp_kernel *dp_generic_kernel(const dp_desc *d);

/* ---- one-call entry points ---- */

/* Convolution for descriptor d: out = conv(in, weights) + bias (bias may
 * be NULL). Uses the exact-shape generated kernel when one is registered,
 * the generic implementation otherwise; *used (may be NULL) tells which. */
dp_status dp_conv2d(const dp_desc *d, const float *in, const float *weights,
                    const float *bias, float *out, const dp_kernel **used);

/* C = A * B for a DP_OP_MATMUL descriptor. */
dp_status dp_matmul(const dp_desc *d, const float *a, const float *b,
                    float *c, const dp_kernel **used);

/* Run a kernel once: allocates its state and workspace, prepares, executes,
 * frees. */
dp_status dp_kernel_run(const dp_kernel *kern, const dp_desc *d,
                        const float *in, const float *weights,
                        const float *bias, float *out);

/* ---- references: fp64 accumulation, the yardstick of every test ---- */

dp_status dp_ref_conv2d(const dp_desc *d, const float *in,
                        const float *weights, const float *bias, double *out);
dp_status dp_ref_matmul(int m, int k, int n, const float *a, const float *b,
                        double *c);

/* ---- .npy files (little-endian float32, C order) ---- */

typedef struct dp_array {
	int ndim;
	int64_t shape[8];
	float *data;        /* malloc'd; free with dp_array_free */
} dp_array;

int64_t dp_array_elems(const dp_array *a);
/* Read a .npy file. On failure msg explains the problem. */
dp_status dp_npy_read(const char *path, dp_array *out, char *msg,
                      size_t msg_len);
/* Write atomically: a temporary file in the same directory, then rename. */
dp_status dp_npy_write(const char *path, const dp_array *a, char *msg,
                       size_t msg_len);
void dp_array_free(dp_array *a);

#ifdef __cplusplus
}
#endif
#endif
