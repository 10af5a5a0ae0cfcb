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
	DP_ERR_FORMAT,       /* a file's content is not what was expected */
	DP_ERR_BUDGET        /* no algorithm meets the requested error budget */
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

/* Number formats (issue 6, docs/PRECISION.md). fp32 is the native
 * format: its kernels contain no rounding code. The others are emulated:
 * values are float or double in memory, rounded to the format wherever
 * the policy says (runtime/precision.h has the rounding rules). */
typedef enum dp_precision {
	DP_PREC_FP32 = 0,
	DP_PREC_FP64,      /* every operation in double, output rounded once */
	DP_PREC_TF32,
	DP_PREC_BF16,
	DP_PREC_FP16,
	DP_PREC_FP8_E4M3,  /* OCP E4M3FN, saturating */
	DP_PREC_FP8_E5M2,
	DP_PREC_INT16,     /* symmetric fixed point, one scale per tensor */
	DP_PREC_INT8,
	DP_PREC_COUNT
} dp_precision;

/* Where a narrow floating-point format rounds:
 *   all   every arithmetic result (transforms included) is rounded to
 *         the format;
 *   acc32 operands (and transformed operands) are stored and multiplied
 *         in the format, products and sums are kept in fp32, as tensor
 *         cores do; the output is stored in the format.
 * fp32, fp64 and the integer formats take "all" only (for the integer
 * formats: quantized operands, exact integer accumulation). */
typedef enum dp_policy { DP_POLICY_ALL = 0, DP_POLICY_ACC32,
                         DP_POLICY_COUNT } dp_policy;

/* Names as used on the command line ("direct", "fp32"); NULL if unknown. */
const char *dp_op_name(dp_op op);
const char *dp_algo_name(dp_algo a);
const char *dp_precision_name(dp_precision p);
const char *dp_policy_name(dp_policy p);
/* The operator an algorithm computes. */
dp_op dp_algo_op(dp_algo a);
/* 1 if dpgen can generate a specialized kernel for the algorithm, 0 if
 * it exists only as a runtime implementation (a baseline). */
int dp_algo_generated(dp_algo a);
/* Reverse lookups; return DP_ERR_ARG for an unknown name. */
dp_status dp_op_parse(const char *s, dp_op *out);
dp_status dp_algo_parse(const char *s, dp_algo *out);
dp_status dp_precision_parse(const char *s, dp_precision *out);
/* "FORMAT" or "FORMAT:POLICY" ("fp16", "bf16:acc32", "fp8-e4m3:all").
 * DP_ERR_ARG for an unknown format or policy, or a policy the format does
 * not take (see dp_policy). */
dp_status dp_precision_spec_parse(const char *s, dp_precision *prec,
                                  dp_policy *policy);
/* The canonical spelling: "fp16", "bf16:acc32" (":all" is left out). */
void dp_precision_spec_name(dp_precision prec, dp_policy policy,
                            char *buf, size_t len);
/* 1 if the format takes the policy. */
int dp_policy_valid(dp_precision prec, dp_policy policy);

#define DP_POINTS_LEN 96

/* One problem: operator, algorithm, shape, precision. For DP_OP_MATMUL
 * only m, k, n are used. All sizes are at least 1. */
typedef struct dp_desc {
	dp_op op;
	dp_algo algo;
	dp_precision precision;
	dp_policy policy;  /* where a narrow format rounds (default all) */
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

/* The dpgen command that generates d's kernel ("dpgen --op conv --algo
 * direct --shape 28x28x3 ... --precision fp32"): every kernel's banner,
 * so dpgen and the JIT write the same bytes. */
void dp_desc_command(const dp_desc *d, char *buf, size_t len);

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

/* ---- threads (issue 7) ----
 * The fp32 convolution and GEMM kernels (direct, im2col, Winograd, FFT,
 * GEMM; generated and generic; OpenBLAS inside im2col-blas) use up to this
 * many threads; 0 (the default) means the DP_NUM_THREADS environment
 * variable, else 1. Small problems run on one thread whatever the setting
 * (waking a sleeping thread costs more than they take). Their results are
 * bitwise identical for every thread count (im2col-blas: as OpenBLAS
 * gives them). */
dp_status dp_set_num_threads(int n);  /* DP_ERR_ARG: n < 0 or n > 256 */
int dp_get_num_threads(void);         /* the count in effect, >= 1 */

/* Settings: n = 0 reads DP_NUM_THREADS again (now); a DP_NUM_THREADS that
 * is not an integer in 1..DP_MAX_THREADS is ignored (1 thread). */
#define DP_MAX_THREADS 256

/* The parallel-for of the kernels (runtime/threads.c), public so that
 * generated kernels compiled on their own can use it. fn(ctx, begin, end)
 * is called for contiguous, disjoint ranges that cover [0, items): the
 * items are cut into min(items, 4 p) fixed chunks (chunk c of n is
 * [items*c/n, items*(c+1)/n)), p = min(dp_get_num_threads(), items), and
 * the caller's thread and p - 1 workers of a persistent pool claim them in
 * order (a preempted worker leaves its share to the others). flops is the
 * call's work (flops, or elements moved for copies): below a threshold
 * (0.2 MFLOP when enough workers are spinning from a recent job, 5 MFLOP
 * when they sleep; see threads.c for the derivation) fn(ctx, 0, items)
 * runs on the caller alone (a call of 1 to 5 MFLOP that finds them asleep
 * also wakes them, without waiting, for the calls that follow). Also
 * serial when another thread is using the pool, when called from inside a
 * job, and for a back-off time after a job that gained less than 10%
 * (the cores were taken by other work). Returns when every chunk is
 * done. fn must make each item's result independent of the partition and
 * of the thread that runs it; then results are bitwise identical for
 * every thread count. DP_ERR_ARG: items < 0 or fn NULL. */
typedef void (*dp_range_fn)(void *ctx, int begin, int end);
dp_status dp_parallel_for(int items, double flops, dp_range_fn fn, void *ctx);
/* For tests and benchmarks: run in parallel from this many flops on,
 * whatever the workers are doing (0: always, when threads > 1); -1
 * restores the default thresholds. DP_ERR_ARG for other negatives. */
dp_status dp_set_parallel_min_flops(double flops);

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

/* ==== find, plan, execute, wisdom (issue 7) ============================
 *
 * dp_find_conv / dp_find_matmul run every algorithm and variant that could
 * serve a problem on the same random data (deterministic seed), time each
 * one (warm-up, then timed runs until the median is stable; then the
 * candidates within 10% of the fastest again, interleaved, so that the
 * machine's drift cannot order them) and measure its error against the
 * fp64 reference. dp_plan_conv picks one (the
 * descriptor's own, the fastest, or the fastest within an error budget),
 * prepares it with the caller's weights and owns its state and workspace.
 * Wisdom files remember the choice per problem, machine and build.
 * Library code never prints: the only output is the optional progress
 * callback. */

/* Called before each candidate is measured: done of total, its name. */
typedef void (*dp_progress_fn)(void *user, int done, int total,
                               const char *what);

/* Measurement options; all-zero (or a NULL pointer) means the defaults. */
typedef struct dp_find_opts {
	int min_reps;          /* timed runs at least (default 5) */
	double min_seconds;    /* timing per candidate at least (0.02) */
	double max_seconds;    /* timing per candidate at most, once
	                        * min_reps runs are in (default 1.0) */
	double stable;         /* stop when the median of all runs and of
	                        * the first half differ by less (0.05) */
	uint64_t seed;         /* random data (default 1) */
	int include_approx;    /* matmul: also svd (rank min(K,N)/2), log
	                        * (exact) and lns (F=8, 32-bit), which change
	                        * the result: marked approximate */
	size_t max_bytes;      /* a candidate whose state plus workspace
	                        * would exceed this is skipped, not run
	                        * (default 512 MiB: the generic FFT's
	                        * weight spectra for C512 K512 at T64 are
	                        * 4 GiB and take minutes to prepare) */
	dp_progress_fn progress;
	void *progress_user;
} dp_find_opts;

#define DP_FIND_MAX 32     /* more candidates than any problem has */
#define DP_NAME_LEN 128
#define DP_MSG_LEN 256

typedef struct dp_find_result {
	dp_desc desc;          /* algorithm and variant (tile, ...) */
	char kernel[DP_NAME_LEN]; /* the kernel measured ("" if none) */
	char variant[64];      /* "F(4,3)", "T16", "rank 16", "" */
	int generated;         /* 1: an exact-shape generated kernel (built
	                        * in; in a plan's result also one the JIT
	                        * compiled, see dp_plan_source), 0: the
	                        * runtime's generic one */
	int approximate;       /* 1: changes the result by design (matmul
	                        * svd, log, lns) */
	dp_status status;      /* DP_OK, else why it was not measured */
	char message[DP_MSG_LEN]; /* "" or the reason, one line */
	double seconds;        /* median time of one execute() */
	double gflops;         /* direct-method flops / seconds */
	int reps;              /* timed runs behind the median */
	size_t workspace_bytes, state_bytes;
	double max_abs_err;    /* max |y - ref| */
	double mean_abs_err;   /* mean |y - ref| */
	double rel_err;        /* max |y - ref| / max |ref| */
} dp_find_result;

/* Measure every candidate for desc's problem (desc->algo and the variant
 * fields are ignored). Up to capacity results, fastest first, the ones not
 * applicable (status != DP_OK) last; *count is how many were written. */
dp_status dp_find_conv(const dp_desc *desc, const dp_find_opts *opts,
                       dp_find_result *results, int capacity, int *count);
dp_status dp_find_matmul(const dp_desc *desc, const dp_find_opts *opts,
                         dp_find_result *results, int capacity, int *count);

typedef enum dp_choice {
	DP_CHOOSE_DESC = 0,    /* the descriptor's own algorithm and variant */
	DP_FASTEST,            /* the fastest exact algorithm measured */
	DP_FASTEST_WITHIN      /* the fastest with rel_err <= max_rel_error */
} dp_choice;

typedef struct dp_plan_opts {
	dp_find_opts find;     /* how DP_FASTEST* measure */
	double max_rel_error;  /* DP_FASTEST_WITHIN: the budget (>= 0) */
	int caller_workspace;  /* 1: no workspace in the plan; dp_execute
	                        * then needs one */
	const char *wisdom;    /* optional wisdom file: a usable entry skips
	                        * the measurement; a new choice is recorded */
} dp_plan_opts;

typedef struct dp_plan dp_plan;

/* Choose, allocate, prepare(weights, bias). DP_ERR_BUDGET when no
 * candidate meets the budget. */
dp_status dp_plan_conv(const dp_desc *d, dp_choice choice,
                       const dp_plan_opts *opts, const float *weights,
                       const float *bias, dp_plan **out);
/* The same for matmul: b is B, the operand prepared once. */
dp_status dp_plan_matmul(const dp_desc *d, dp_choice choice,
                         const dp_plan_opts *opts, const float *b,
                         dp_plan **out);
size_t dp_plan_workspace_bytes(const dp_plan *p);
const dp_kernel *dp_plan_kernel(const dp_plan *p);
const dp_desc *dp_plan_desc(const dp_plan *p);
/* The measurement behind the choice (seconds 0 when it was not measured,
 * e.g. DP_CHOOSE_DESC or a wisdom hit). */
const dp_find_result *dp_plan_result(const dp_plan *p);
/* out = op(in); workspace NULL: the plan's own. */
dp_status dp_execute(const dp_plan *p, const float *in, float *out,
                     void *workspace);
void dp_destroy(dp_plan *p);

/* ---- wisdom: one line per tuned problem ----
 * Key: the problem as canonical dpgen arguments, precision, CPU model,
 * a hash of the CPU flags, DP_VERSION and a hash of the chosen kernel's
 * source. Generated sources are not available at run time, so the
 * "source" hash is FNV-1a of kernel name + DP_VERSION (a new build of the
 * same name and version is not told apart). Lines for another CPU or
 * build are stale: counted, returned, never used. */

typedef struct dp_wisdom dp_wisdom;

typedef struct dp_wisdom_entry {
	dp_desc desc;          /* the problem with the chosen algorithm */
	char kernel[DP_NAME_LEN];
	double seconds, max_abs_err, rel_err;
} dp_wisdom_entry;

/* Read a wisdom file; a missing file is an empty wisdom. Damaged lines
 * become warnings, never errors. NULL path: empty. */
dp_status dp_wisdom_load(const char *path, dp_wisdom **out);
int dp_wisdom_count(const dp_wisdom *w);          /* usable entries */
int dp_wisdom_stale_count(const dp_wisdom *w);
const char *dp_wisdom_stale(const dp_wisdom *w, int i); /* the line */
int dp_wisdom_warning_count(const dp_wisdom *w);
const char *dp_wisdom_warning(const dp_wisdom *w, int i);
/* The entry for problem d (algo and variant ignored); DP_ERR_UNSUPPORTED
 * if none is usable. */
dp_status dp_wisdom_lookup(const dp_wisdom *w, const dp_desc *d,
                           dp_wisdom_entry *out);
void dp_wisdom_free(dp_wisdom *w);
/* Add or replace the entry of r's problem on this machine and build:
 * flock(path.lock), read, merge, write path.tmp.PID, rename. Damaged
 * lines are dropped, stale ones kept. msg: why it failed. */
dp_status dp_wisdom_record(const char *path, const dp_find_result *r,
                           char *msg, size_t msg_len);
/* The problem of d as canonical dpgen arguments (no --algo), and the
 * choice ("--algo winograd --tile 4"). */
void dp_wisdom_problem_args(const dp_desc *d, char *buf, size_t len);
void dp_wisdom_choice_args(const dp_desc *d, char *buf, size_t len);

/* ---- JIT: kernels for shapes nobody generated (issue 7) ----
 * When a plan's algorithm can be generated (dp_algo_generated) but no
 * kernel for the exact shape is built into the library, dp_plan_conv and
 * dp_plan_matmul generate it in-process (the templates are compiled into
 * libdpgen), compile it with $CC (default "cc") and $DP_JIT_CFLAGS
 * (default "-O3 -march=native") into a shared object, dlopen it and keep
 * it in $XDG_CACHE_HOME/dpgen (default ~/.cache/dpgen) as
 * NAME-HASH.so, HASH covering what the source is made of (the templates
 * and dpgen.h compiled into the library, DP_VERSION, the descriptor;
 * generation is deterministic), the compiler command and flags and the
 * CPU. The next plan of that shape, in any process, loads it from there
 * (about a millisecond; compiling takes 0.5-3 s). Writes are atomic (a
 * private temporary directory, then rename),
 * so processes compiling the same kernel at once all succeed; a cache
 * file that does not load or holds the wrong kernel is compiled again.
 * A missing or failing compiler, or an unusable cache directory, falls
 * back to the generic kernel; the plan then carries a one-line warning
 * (dp_plan_warning, also dp_plan_result(p)->message). The plan owns the
 * loaded object (dlclose in dp_destroy).
 * The JIT is on unless DP_JIT=0 or dp_set_jit(0). Only plans use it:
 * dp_find_* measure the built-in or generic kernels (compiling every
 * candidate would cost 0.5-1 s each), and the one-call dp_conv2d and
 * dp_matmul never compile. At the emulated precisions the JIT serves the
 * algorithms that have emulated templates (conv direct and winograd,
 * matmul gemm); the others stay with the runtime's emulation, without a
 * warning. */

typedef enum dp_kernel_source {
	DP_SOURCE_BUILTIN = 0,  /* the exact-shape kernel in the library */
	DP_SOURCE_GENERIC,      /* the runtime's shape-generic kernel */
	DP_SOURCE_JIT_COMPILED, /* generated and compiled by this plan */
	DP_SOURCE_JIT_CACHE     /* generated earlier, loaded from the cache */
} dp_kernel_source;

/* "built-in", "generic", "jit-compiled", "jit-cache"; NULL if unknown. */
const char *dp_kernel_source_name(dp_kernel_source s);
/* Where the plan's kernel came from. */
dp_kernel_source dp_plan_source(const dp_plan *p);
/* "" or one line: why the JIT was not used (the plan still works, with
 * the generic kernel). */
const char *dp_plan_warning(const dp_plan *p);
/* Seconds the plan spent generating, compiling and loading its kernel
 * (0 when it did not use the JIT). */
double dp_plan_jit_seconds(const dp_plan *p);
/* 1: plans use the JIT, 0: never; -1 (the default): on unless the
 * environment variable DP_JIT is "0". DP_ERR_ARG for other values. */
dp_status dp_set_jit(int mode);
int dp_jit_enabled(void);

/* The generator as a library: the kernel dpgen would write for d (the
 * same bytes as `dpgen ... -o DIR`), as malloc'd strings the caller frees:
 * its name, the .c file and the .h file. On failure msg says why. */
dp_status dp_generate_source(const dp_desc *d, char **name, char **c_src,
                             char **h_src, char *msg, size_t msg_len);

/* ==== end of find, plan, execute, wisdom =============================== */

#ifdef __cplusplus
}
#endif
#endif
