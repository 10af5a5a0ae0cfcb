/* cli.h - dpgen's command line: options, values, descriptor building.
 * Parsing never exits: every function returns 0 or -1 with a one-line
 * message in err that names the argument, what was wrong and what is
 * allowed. main() prints it and exits with status 2. */
#ifndef DP_CLI_H
#define DP_CLI_H

#include <stddef.h>

#include "dpgen.h"

enum cli_mode { MODE_GEN = 1, MODE_RUN = 2, MODE_MANIFEST = 4, MODE_TUNE = 8 };

/* Raw option values as given (NULL when absent). */
typedef struct cli_opts {
	const char *op, *algo, *shape, *filters, *kernel, *stride, *pad;
	const char *batch, *precision, *outdir, *templates, *tile, *points;
	const char *fft_tile, *log_frac_bits, *acc_bits, *bin_bits;
	const char *input, *weights, *bias, *out, *a, *b, *rank_a, *rank_b;
	int to_stdout, print_name, help, version, list;
	const char *positional;   /* manifest: the manifest file */
	const char *max_error, *wisdom;   /* tune */
	int csv;                          /* tune */
	const char *threads;              /* run, tune: --threads N */
} cli_opts;

#define CLI_ERR_LEN 512

int cli_parse(int argc, char **argv, enum cli_mode mode, cli_opts *o,
              char *err, size_t err_len);

/* Strict decimal integer in [lo, hi]; what names it in messages. */
int cli_int(const char *what, const char *s, int lo, int hi, int *out,
            char *err, size_t err_len);

/* --pad: P, PHxPW, same ((R-1)/2, odd kernels) or valid (0), for the
 * kernel size already in d. */
int cli_pad(const char *s, const dp_desc *d, int *ph, int *pw,
            char *err, size_t err_len);

/* Algorithm options (--tile, --points) into d, whose algo and kernel
 * size are set; an error if the algorithm takes none. */
int cli_variant(const cli_opts *o, dp_desc *d, char *err, size_t err_len);

/* Matmul algorithm options (--rank-a/b, --log-frac-bits, --acc-bits,
 * --bin-bits) into d, whose algo and shape are set. */
int cli_matmul_variant(const cli_opts *o, dp_desc *d, char *err,
                       size_t err_len);

/* The descriptor of a generation command (mode MODE_GEN). */
int cli_gen_desc(const cli_opts *o, dp_desc *d, char *err, size_t err_len);


void cli_help(enum cli_mode mode);
void cli_list(void);

#endif
