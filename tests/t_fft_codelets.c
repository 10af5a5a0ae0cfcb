/* t_fft_codelets.c - the FFT codelets of templates/lib/fft.lua, alone.
 *
 * The host runs lib/fft.lua (package.path = $DP_SRCDIR/templates/?.lua)
 * to emit the codelets of each size T = 8, 16, 32, 64, twice: on float
 * and on an 8-lane vector of floats (the form the FFT convolution uses),
 * adds exported wrappers, compiles the file with $CC and
 * $DP_KERNEL_CFLAGS (default -O2) under -Wall -Wextra -Werror -Wshadow
 * -Wstrict-prototypes, loads it, and checks every codelet:
 *   - against a naive O(T^2) DFT in double (forward real, inverse real,
 *     forward and inverse complex), on random N(0,1) data;
 *   - forward then inverse returns the input (times T, divided out).
 *
 * Tolerance. For an FFT computed in floating point with a precision u
 * and twiddles accurate to mu, Higham (Accuracy and Stability of
 * Numerical Algorithms, 2nd ed., Thm 24.2) bounds the error of a radix-2
 * transform of size n in the 2-norm:
 *   ||y^ - y||_2 / ||y||_2 <= log2(n) eta / (1 - log2(n) eta),
 *   eta = mu + gamma_4 (sqrt 2 + mu),  gamma_4 = 4u / (1 - 4u).
 * Each level of our split-radix tree is, per output, at most one complex
 * multiply by a rounded twiddle and two complex adds, which is what eta
 * covers; the real transforms add one more level (the post- or
 * pre-processing butterfly of the packed half-size transform). With
 * u = 2^-24, mu <= u (twiddles are the nearest floats), eta <= 6.7 u, so
 *   ||err||_2 <= (log2 T + 1) * 7 u * ||y||_2 (1 + tiny)
 * where ||y||_2 is the exact result's norm (for a real forward transform
 * we use sqrt(T) ||x||_2, the norm of the whole spectrum, of which the
 * codelet outputs half). Round trip: two transforms, 2x that bound on
 * ||x||_2. The observed ratio err/bound is printed; a wrong twiddle (or
 * a swapped sign) gives errors of the order of ||y||, far above it. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "tap.h"
#include "util.h"

#define U 0x1p-24
#define PI 3.14159265358979323846
#define LANES 8
#define MAXT 64
#define TRIALS 20

static const int sizes[] = { 8, 16, 32, 64 };

/* The Lua chunk: emit every codelet and exported wrappers; returns the
 * C source and the operation counts as "T adds muls;..." */
static const char *const chunk =
"local emit = require('lib.emit')\n"
"local fft = require('lib.fft')\n"
"local e = emit.new()\n"
"e:line('#include <stddef.h>')\n"
"e:line('typedef float vec __attribute__((vector_size(32)));')\n"
"local counts = {}\n"
"for _, T in ipairs({ 8, 16, 32, 64 }) do\n"
"  for _, v in ipairs({ { 'float', 'f' }, { 'vec', 'v' } }) do\n"
"    local ty, p = v[1], v[2] .. T\n"
"    fft.emit(e, { t = T, ty = ty, prefix = p })\n"
"    e:line('void %s_r2c_x(const float *x, float *yr, float *yi);', p)\n"
"    e:line('void %s_r2c_x(const float *x, float *yr, float *yi)', p)\n"
"    e:line('{ %s_r2c((const %s *)x, 1, (%s *)yr, (%s *)yi, 1); }', p, ty, ty, ty)\n"
"    e:line('void %s_c2r_x(const float *xr, const float *xi, float *y);', p)\n"
"    e:line('void %s_c2r_x(const float *xr, const float *xi, float *y)', p)\n"
"    e:line('{ %s_c2r((const %s *)xr, (const %s *)xi, 1, (%s *)y, 1); }', p, ty, ty, ty)\n"
"    for _, dir in ipairs({ 'fwd', 'inv' }) do\n"
"      e:line('void %s_%s_x(const float *xr, const float *xi, float *yr, float *yi);', p, dir)\n"
"      e:line('void %s_%s_x(const float *xr, const float *xi, float *yr, float *yi)', p, dir)\n"
"      e:line('{ %s_%s((const %s *)xr, (const %s *)xi, 1, (%s *)yr, (%s *)yi, 1); }',\n"
"        p, dir, ty, ty, ty, ty)\n"
"    end\n"
"  end\n"
"  local a, m = fft.op_count(T)\n"
"  counts[#counts + 1] = string.format('%d %d %d', T, a, m)\n"
"end\n"
"return e:text(), table.concat(counts, ';')\n";

typedef void (*r2c_fn)(const float *, float *, float *);
typedef void (*c2r_fn)(const float *, const float *, float *);
typedef void (*cfft_fn)(const float *, const float *, float *, float *);

static const char *source_dir(void)
{
	const char *s = getenv("DP_SRCDIR");
	return s && *s ? s : ".";
}

/* Runs the chunk; returns the malloc'd C source, counts into cnt. */
static char *emit_codelets(char *cnt, size_t cnt_len, char *err,
                           size_t err_len)
{
	lua_State *L = luaL_newstate();
	char *src = NULL;
	if (!L) {
		snprintf(err, err_len, "no Lua state");
		return NULL;
	}
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/templates/?.lua", source_dir());
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	if (luaL_loadstring(L, chunk) != LUA_OK ||
	    lua_pcall(L, 0, 2, 0) != LUA_OK) {
		snprintf(err, err_len, "%s", lua_tostring(L, -1));
	} else {
		size_t n;
		const char *s = lua_tolstring(L, -2, &n);
		src = malloc(n + 1);
		if (src)
			memcpy(src, s, n + 1);
		snprintf(cnt, cnt_len, "%s", lua_tostring(L, -1));
	}
	lua_close(L);
	return src;
}

/* Naive DFT in double: y_k = sum_j x_j exp(sign 2 pi i jk / n). */
static void naive_dft(int n, int sign, const double *xr, const double *xi,
                      double *yr, double *yi)
{
	for (int k = 0; k < n; k++) {
		double sr = 0, si = 0;
		for (int j = 0; j < n; j++) {
			double a = sign * 2 * PI * (double)((long)j * k % n) / n;
			double c = cos(a), s = sin(a);
			sr += xr[j] * c - xi[j] * s;
			si += xr[j] * s + xi[j] * c;
		}
		yr[k] = sr;
		yi[k] = si;
	}
}

static double bound_rel(int t)
{
	double lg = log2((double)t);
	return (lg + 1) * 7 * U;
}

static double norm2(const double *a, const double *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += a[i] * a[i] + (b ? b[i] * b[i] : 0);
	return sqrt(s);
}

/* Data for one codelet check, for `lanes` independent transforms stored
 * lane-interleaved (element j of lane l at [j * lanes + l]). */
typedef struct {
	int t, lanes;
	float *in_r, *in_i, *out_r, *out_i, *back;
} bufs;

static float *falloc(size_t n)
{
	return aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
}

/* Worst err/bound over lanes and trials of each check; indices:
 * 0 r2c, 1 c2r, 2 fwd, 3 inv, 4 real round trip, 5 complex round trip. */
static void check_size(bufs *b, r2c_fn r2c, c2r_fn c2r, cfft_fn fwd,
                       cfft_fn inv, rng_t *rng, double worst[6])
{
	const int t = b->t, L = b->lanes, m = t / 2;
	double xr[MAXT], xi[MAXT], yr[MAXT], yi[MAXT];
	const double rel = bound_rel(t);
	for (int trial = 0; trial < TRIALS; trial++) {
		/* Real forward. */
		for (int i = 0; i < t * L; i++)
			b->in_r[i] = (float)rng_normal(rng);
		r2c(b->in_r, b->out_r, b->out_i);
		for (int l = 0; l < L; l++) {
			for (int j = 0; j < t; j++) {
				xr[j] = b->in_r[j * L + l];
				xi[j] = 0;
			}
			naive_dft(t, -1, xr, xi, yr, yi);
			double e = 0;
			for (int k = 0; k <= m; k++) {
				double dr = b->out_r[k * L + l] - yr[k];
				double di = b->out_i[k * L + l] - yi[k];
				e += dr * dr + di * di;
			}
			double r = sqrt(e) / (rel * norm2(yr, yi, t));
			if (!(r <= worst[0]))
				worst[0] = isnan(r) ? INFINITY : r;
		}
		/* Real round trip: c2r(r2c(x)) / T = x. */
		c2r(b->out_r, b->out_i, b->back);
		for (int l = 0; l < L; l++) {
			double e = 0;
			for (int j = 0; j < t; j++) {
				xr[j] = b->in_r[j * L + l];
				double d = b->back[j * L + l] / t - xr[j];
				e += d * d;
			}
			double r = sqrt(e) / (2 * rel * norm2(xr, NULL, t));
			if (!(r <= worst[4]))
				worst[4] = isnan(r) ? INFINITY : r;
		}
		/* Real inverse on a random Hermitian half spectrum (the
		 * imaginary parts of X_0 and X_m are garbage it must ignore). */
		for (int i = 0; i < (m + 1) * L; i++) {
			b->in_r[i] = (float)rng_normal(rng);
			b->in_i[i] = (float)rng_normal(rng);
		}
		c2r(b->in_r, b->in_i, b->back);
		for (int l = 0; l < L; l++) {
			for (int k = 0; k <= m; k++) {
				xr[k] = b->in_r[k * L + l];
				xi[k] = k == 0 || k == m ? 0 : b->in_i[k * L + l];
			}
			for (int k = m + 1; k < t; k++) {
				xr[k] = xr[t - k];
				xi[k] = -xi[t - k];
			}
			naive_dft(t, 1, xr, xi, yr, yi);
			double e = 0;
			for (int j = 0; j < t; j++) {
				double d = b->back[j * L + l] - yr[j];
				e += d * d;
			}
			double r = sqrt(e) / (rel * norm2(yr, NULL, t));
			if (!(r <= worst[1]))
				worst[1] = isnan(r) ? INFINITY : r;
		}
		/* Complex forward and inverse, and the round trip. */
		for (int dir = 0; dir < 2; dir++) {
			for (int i = 0; i < t * L; i++) {
				b->in_r[i] = (float)rng_normal(rng);
				b->in_i[i] = (float)rng_normal(rng);
			}
			(dir ? inv : fwd)(b->in_r, b->in_i, b->out_r, b->out_i);
			for (int l = 0; l < L; l++) {
				for (int j = 0; j < t; j++) {
					xr[j] = b->in_r[j * L + l];
					xi[j] = b->in_i[j * L + l];
				}
				naive_dft(t, dir ? 1 : -1, xr, xi, yr, yi);
				double e = 0;
				for (int k = 0; k < t; k++) {
					double dr = b->out_r[k * L + l] - yr[k];
					double di = b->out_i[k * L + l] - yi[k];
					e += dr * dr + di * di;
				}
				double r = sqrt(e) / (rel * norm2(yr, yi, t));
				if (!(r <= worst[2 + dir]))
					worst[2 + dir] = isnan(r) ? INFINITY : r;
			}
		}
		/* Complex round trip, in place: inv(fwd(x)) / T = x. */
		for (int i = 0; i < t * L; i++) {
			b->out_r[i] = b->in_r[i] = (float)rng_normal(rng);
			b->out_i[i] = b->in_i[i] = (float)rng_normal(rng);
		}
		fwd(b->out_r, b->out_i, b->out_r, b->out_i);
		inv(b->out_r, b->out_i, b->out_r, b->out_i);
		for (int l = 0; l < L; l++) {
			double e = 0;
			for (int j = 0; j < t; j++) {
				xr[j] = b->in_r[j * L + l];
				xi[j] = b->in_i[j * L + l];
				double dr = b->out_r[j * L + l] / t - xr[j];
				double di = b->out_i[j * L + l] / t - xi[j];
				e += dr * dr + di * di;
			}
			double r = sqrt(e) / (2 * rel * norm2(xr, xi, t));
			if (!(r <= worst[5]))
				worst[5] = isnan(r) ? INFINITY : r;
		}
	}
}

static void *sym(void *h, const char *fmt, int p, int t)
{
	char name[64];
	snprintf(name, sizeof name, fmt, p, t);
	return dlsym(h, name);
}

int main(void)
{
	char dir[256], err[4096], cnt[256], path[512], cmd[2048], out[4096];
	static const char *const what[6] = {
		"real forward vs naive DFT", "real inverse vs naive DFT",
		"complex forward vs naive DFT", "complex inverse vs naive DFT",
		"real forward then inverse", "complex forward then inverse (in place)"
	};
	if (!make_temp_dir(dir, sizeof dir)) {
		ok(0, "temporary directory");
		return done_testing();
	}
	char *src = emit_codelets(cnt, sizeof cnt, err, sizeof err);
	if (!ok(src != NULL, "lib/fft.lua emits the codelets")) {
		diag("%s", err);
		return done_testing();
	}
	snprintf(path, sizeof path, "%s/codelets.c", dir);
	FILE *f = fopen(path, "w");
	ok(f && fputs(src, f) >= 0 && fclose(f) == 0, "wrote %s", path);
	free(src);
	const char *cc = getenv("CC"), *flags = getenv("DP_KERNEL_CFLAGS");
	snprintf(cmd, sizeof cmd, "%s -std=c11 %s -Wall -Wextra -Werror -Wshadow "
	         "-Wstrict-prototypes -fPIC -shared %s -o %s/codelets.so -lm",
	         cc && *cc ? cc : "cc", flags && *flags ? flags : "-O2", path,
	         dir);
	if (!ok(sh_capture(cmd, out, sizeof out) == 0,
	        "codelets compile without warnings")) {
		diag("%s\n%s", cmd, out);
		return done_testing();
	}
	snprintf(path, sizeof path, "%s/codelets.so", dir);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!ok(h != NULL, "dlopen the codelets")) {
		diag("%s", dlerror());
		return done_testing();
	}
	diag("operation counts (adds, muls) of r2c + c2r + fwd + inv: %s", cnt);
	rng_t rng;
	rng_seed(&rng, 42);
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		int t = sizes[si];
		for (int v = 0; v < 2; v++) {
			const char p = v ? 'v' : 'f';
			bufs b = { t, v ? LANES : 1, NULL, NULL, NULL, NULL, NULL };
			size_t n = (size_t)MAXT * LANES;
			b.in_r = falloc(n); b.in_i = falloc(n);
			b.out_r = falloc(n); b.out_i = falloc(n); b.back = falloc(n);
			r2c_fn r2c = (r2c_fn)sym(h, "%c%d_r2c_x", p, t);
			c2r_fn c2r = (c2r_fn)sym(h, "%c%d_c2r_x", p, t);
			cfft_fn fwd = (cfft_fn)sym(h, "%c%d_fwd_x", p, t);
			cfft_fn inv = (cfft_fn)sym(h, "%c%d_inv_x", p, t);
			if (!ok(r2c && c2r && fwd && inv && b.in_r && b.in_i &&
			        b.out_r && b.out_i && b.back,
			        "T = %d %s: codelets found", t, v ? "vec" : "float")) {
				continue;
			}
			double worst[6] = { 0 };
			check_size(&b, r2c, c2r, fwd, inv, &rng, worst);
			for (int c = 0; c < 6; c++)
				ok(worst[c] <= 1, "T = %2d %-5s %s: worst err/bound %.3g "
				   "(bound %.3g relative, 2-norm)", t, v ? "vec" : "float",
				   what[c], worst[c], (c >= 4 ? 2 : 1) * bound_rel(t));
			free(b.in_r); free(b.in_i); free(b.out_r); free(b.out_i);
			free(b.back);
		}
	}
	remove_tree(dir);
	return done_testing();
}
