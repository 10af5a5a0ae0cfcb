/* util.h - what several tests share: running dpgen, temporary
 * directories, random data, comparing against the fp64 reference, and
 * building a freshly generated kernel into a loadable object. */
#ifndef DP_TEST_UTIL_H
#define DP_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dpgen.h"

/* Path of the dpgen binary ($DPGEN) and of the source tree ($DP_SRCDIR). */
const char *dpgen_path(void);
const char *src_dir(void);

/* Run argv[0..] (NULL-terminated) with stdout and stderr captured into
 * err (NUL-terminated, truncated to err_len); returns the exit status,
 * or -1 if it died from a signal or could not start. */
int run_capture(char *const argv[], char *err, size_t err_len);
/* Same, for a shell command line. */
int sh_capture(const char *cmd, char *out, size_t out_len);

/* mkdtemp under $TMPDIR or /tmp; the name is static per call site. */
char *make_temp_dir(char *buf, size_t len);
void remove_tree(const char *dir);
/* Number of entries in a directory (without . and ..), -1 on error. */
int dir_entries(const char *dir);
/* The same, counting only names that contain part (".tmp": leftover
 * temporary files). */
int dir_entries_like(const char *dir, const char *part);

/* Whole file into a malloc'd buffer (NUL-terminated); NULL on error. */
char *slurp(const char *path, size_t *len);

/* Deterministic pseudo-random numbers (xorshift64*). */
typedef struct { uint64_t s; } rng_t;
void rng_seed(rng_t *r, uint64_t seed);
double rng_uniform(rng_t *r);          /* [0, 1) */
double rng_normal(rng_t *r);           /* standard normal */
void fill_normal(rng_t *r, float *x, size_t n);
/* kind 0: N(0,1); 1: ReLU(N(0,1)), activations after a ReLU; 2: N(1,1),
 * a non-zero mean. */
void fill_kind(rng_t *r, int kind, float *x, size_t n);

/* Largest |got - want| and largest |want| over n values. */
typedef struct { double max_abs_err, mean_abs_err, max_ref; } err_stats;
err_stats compare(const float *got, const double *want, size_t n);

/* Error bound for a sum of `terms` products of float operands, computed
 * in float: gamma_n * sum|a_i b_i| with gamma_n = n*u/(1-n*u), u = 2^-24
 * (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). */
double dot_error_bound(int terms, double sum_abs_products);

/* Generate the kernel for d with dpgen into dir, compile it with $CC
 * (default cc) and $DP_KERNEL_CFLAGS (default -O2) as a shared object and
 * load it. Returns the kernel object
 * or NULL with a message in err. */
const dp_kernel *build_kernel(const dp_desc *d, const char *dir, char *err,
                              size_t err_len);

/* The dpgen generation arguments for d (without "dpgen"). */
void desc_args(const dp_desc *d, char *buf, size_t len);

/* kern's output on (x, w, b) at `threads` threads, in a malloc'd buffer
 * of ny floats poisoned with NaN first (an output no thread wrote stays
 * NaN); NULL if the kernel failed. The thread count is 1 again after. */
float *run_at_threads(const dp_kernel *kern, const dp_desc *d, int threads,
                      const float *x, const float *w, const float *b,
                      size_t ny);

/* "0,1,5" -> {0, 1, 5}: at most cap numbers; returns the count. */
int parse_int_list(const char *s, int *out, int cap);

/* max |a - b| / max |b| (max |a - b| if b is all zero); NaN counts as
 * the largest difference. */
double max_rel_diff(const float *a, const float *b, size_t n);

#endif
