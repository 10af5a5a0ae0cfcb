/* bench_fft.c - FFT convolution, one thread, in one run:
 *   1. on the large-kernel layers, the generated fft kernel (default tile,
 *      compiled with -O3 -march=native unless DP_KERNEL_CFLAGS says
 *      otherwise) next to the generic tiled fft (same tile) and the
 *      generic fft-fftw (whole image, FFTW_MEASURE plans);
 *   2. one 2-D 32 x 32 real forward transform: the generated codelets
 *      (lib/fft.lua, row r2c then column fwd, on 8-lane vectors: 8
 *      transforms per call, the time shown is per transform; and on float)
 *      next to FFTW's fftwf_plan_dft_r2c_2d(32, 32, FFTW_MEASURE); the
 *      same for the inverse (column inv then row c2r against c2r_2d).
 * Times are medians of execute() only (prepare is once per weights).
 *
 * It embeds Lua to run lib/fft.lua, so it links Lua, which the Makefile's
 * bench rule does not; build it with
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O3 -march=native -Iruntime \
 *      -Itests -Ibench $(pkg-config --cflags lua5.4) bench/bench_fft.c \
 *      tests/util.c -o build/bench/bench_fft build/libdpgen.a \
 *      $(pkg-config --libs lua5.4 openblas) -lfftw3f -lm -ldl
 * Environment: DPGEN, DP_SRCDIR, CC, DP_KERNEL_CFLAGS, BENCH_BUDGET seconds
 * per measurement (default 0.5). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "timing.h"
#include "util.h"

#include "kernels.h"

static const struct { int c, h, k, r, pad; } layers[] = {
	{ 16, 64, 16, 11, 5 },
	{ 8, 128, 8, 15, 7 },
	{ 1, 47, 1, 23, 0 },
};

typedef struct {
	const dp_kernel *kern;
	const dp_desc *d;
	void *state, *ws;
	const float *x;
	float *y;
} conv_ctx;

static void run_conv(void *p)
{
	conv_ctx *c = p;
	c->kern->execute(c->d, c->state, c->x, c->y, c->ws);
}

static double time_conv(const dp_kernel *kern, const dp_desc *d,
                        const float *x, const float *w, const float *b,
                        float *y, double budget)
{
	conv_ctx c = { kern, d, malloc(kern->state_bytes(d) + 64),
	               malloc(kern->workspace_bytes(d) + 64), x, y };
	double t = -1;
	if (c.state && c.ws && kern->prepare(d, w, b, c.state) == DP_OK)
		t = median_time(run_conv, &c, budget);
	free(c.state);
	free(c.ws);
	return t;
}

/* ---- the codelets alone ---- */

static const char *const chunk =
"local emit = require('lib.emit')\n"
"local fft = require('lib.fft')\n"
"local e = emit.new()\n"
"e:line('#include <stddef.h>')\n"
"e:line('typedef float vec __attribute__((vector_size(32)));')\n"
"e:line('enum { FT = 32, HALF = 17 };')\n"
"for _, v in ipairs({ { 'vec', 'v' }, { 'float', 'f' } }) do\n"
"  local ty, p = v[1], v[2]\n"
"  fft.emit(e, { t = 32, ty = ty, prefix = p })\n"
"  e:line('void %s_fwd2d(const float *src, float *yr, float *yi, float *s);', p)\n"
"  e:line('void %s_fwd2d(const float *src, float *yr, float *yi, float *s)', p)\n"
"  e:line('{')\n"
"  e:line('  const %s *x = (const %s *)src; %s *tr = (%s *)s, *ti = tr + FT * HALF;', ty, ty, ty, ty)\n"
"  e:line('  for (int i = 0; i < FT; i++) %s_r2c(x + i * FT, 1, tr + i * HALF, ti + i * HALF, 1);', p)\n"
"  e:line('  for (int j = 0; j < HALF; j++) %s_fwd(tr + j, ti + j, HALF, (%s *)yr + j, (%s *)yi + j, HALF);', p, ty, ty)\n"
"  e:line('}')\n"
"  e:line('void %s_inv2d(const float *zr, const float *zi, float *dst, float *s);', p)\n"
"  e:line('void %s_inv2d(const float *zr, const float *zi, float *dst, float *s)', p)\n"
"  e:line('{')\n"
"  e:line('  %s *y = (%s *)dst; %s *tr = (%s *)s, *ti = tr + FT * HALF;', ty, ty, ty, ty)\n"
"  e:line('  for (int j = 0; j < HALF; j++) %s_inv((const %s *)zr + j, (const %s *)zi + j, HALF, tr + j, ti + j, HALF);', p, ty, ty)\n"
"  e:line('  for (int i = 0; i < FT; i++) %s_c2r(tr + i * HALF, ti + i * HALF, 1, y + i * FT, 1);', p)\n"
"  e:line('}')\n"
"end\n"
"return e:text()\n";

typedef void (*fwd2d_fn)(const float *, float *, float *, float *);
typedef void (*inv2d_fn)(const float *, const float *, float *, float *);

typedef struct {
	fwd2d_fn fwd;
	inv2d_fn inv;
	float *a, *br, *bi, *s;
	fftwf_plan plan;
	fftwf_complex *c;
} cl_ctx;

static void run_vfwd(void *p)
{
	cl_ctx *c = p;
	c->fwd(c->a, c->br, c->bi, c->s);
}

static void run_vinv(void *p)
{
	cl_ctx *c = p;
	c->inv(c->br, c->bi, c->a, c->s);
}

static void run_fftw_fwd(void *p)
{
	cl_ctx *c = p;
	fftwf_execute_dft_r2c(c->plan, c->a, c->c);
}

static void run_fftw_inv(void *p)
{
	cl_ctx *c = p;
	fftwf_execute_dft_c2r(c->plan, c->c, c->a);
}

static void *load_codelets(const char *dir)
{
	lua_State *L = luaL_newstate();
	char path[512], cmd[2048], out[4096];
	const char *src = getenv("DP_SRCDIR");
	luaL_openlibs(L);
	lua_getglobal(L, "package");
	lua_pushfstring(L, "%s/templates/?.lua", src && *src ? src : ".");
	lua_setfield(L, -2, "path");
	lua_pop(L, 1);
	if (luaL_loadstring(L, chunk) != LUA_OK || lua_pcall(L, 0, 1, 0)) {
		fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
		lua_close(L);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/codelets32.c", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(lua_tostring(L, -1), f);
	fclose(f);
	lua_close(L);
	const char *cc = getenv("CC"), *flags = getenv("DP_KERNEL_CFLAGS");
	snprintf(cmd, sizeof cmd, "%s -std=c11 %s -fPIC -shared %s -o %s/c32.so",
	         cc && *cc ? cc : "cc",
	         flags && *flags ? flags : "-O3 -march=native", path, dir);
	if (sh_capture(cmd, out, sizeof out) != 0) {
		fprintf(stderr, "%s\n%s\n", cmd, out);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/c32.so", dir);
	return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void bench_codelets(const char *dir, double budget)
{
	void *h = load_codelets(dir);
	if (!h) {
		printf("codelets: could not build\n");
		return;
	}
	cl_ctx c;
	c.a = fftwf_malloc(sizeof(float) * 32 * 32 * 8);
	c.br = fftwf_malloc(sizeof(float) * 32 * 17 * 8);
	c.bi = fftwf_malloc(sizeof(float) * 32 * 17 * 8);
	c.s = fftwf_malloc(sizeof(float) * 2 * 32 * 17 * 8);
	c.c = fftwf_malloc(sizeof(fftwf_complex) * 32 * 17);
	rng_t r;
	rng_seed(&r, 1);
	fill_normal(&r, c.a, 32 * 32 * 8);
	fill_normal(&r, c.br, 32 * 17 * 8);
	fill_normal(&r, c.bi, 32 * 17 * 8);
	printf("\n2-D 32x32 real transform, ns per transform (one thread)\n");
	printf("%-34s %10s %10s\n", "", "forward", "inverse");
	static const char *const names[2][2] = {
		{ "v_fwd2d", "v_inv2d" }, { "f_fwd2d", "f_inv2d" } };
	static const char *const what[2] = {
		"generated, 8-lane vec (per lane)", "generated, float" };
	for (int v = 0; v < 2; v++) {
		c.fwd = (fwd2d_fn)dlsym(h, names[v][0]);
		c.inv = (inv2d_fn)dlsym(h, names[v][1]);
		if (!c.fwd || !c.inv)
			continue;
		double tf = median_time(run_vfwd, &c, budget) / (v ? 1 : 8);
		double ti = median_time(run_vinv, &c, budget) / (v ? 1 : 8);
		/* The inverse scales by T^2 and is fed random data: reset. */
		fill_normal(&r, c.a, 32 * 32 * 8);
		printf("%-34s %10.1f %10.1f\n", what[v], tf * 1e9, ti * 1e9);
	}
	float *tmp = fftwf_malloc(sizeof(float) * 32 * 32);
	fftwf_complex *tc = fftwf_malloc(sizeof(fftwf_complex) * 32 * 17);
	fftwf_plan pf = fftwf_plan_dft_r2c_2d(32, 32, tmp, tc, FFTW_MEASURE);
	fftwf_plan pi = fftwf_plan_dft_c2r_2d(32, 32, tc, tmp, FFTW_MEASURE);
	fill_normal(&r, c.a, 32 * 32);
	c.plan = pf;
	double tf = median_time(run_fftw_fwd, &c, budget);
	c.plan = pi;
	double ti = median_time(run_fftw_inv, &c, budget);
	printf("%-34s %10.1f %10.1f\n", "FFTW r2c/c2r 2-D, FFTW_MEASURE",
	       tf * 1e9, ti * 1e9);
	fftwf_destroy_plan(pf);
	fftwf_destroy_plan(pi);
	fftwf_free(tmp);
	fftwf_free(tc);
	fftwf_free(c.a); fftwf_free(c.br); fftwf_free(c.bi); fftwf_free(c.s);
	fftwf_free(c.c);
}

int main(void)
{
	char dir[256], err[2048];
	const char *b = getenv("BENCH_BUDGET");
	double budget = b && *b ? atof(b) : 0.5;
	if (!getenv("DP_KERNEL_CFLAGS"))
		setenv("DP_KERNEL_CFLAGS", "-O3 -march=native", 1);
	if (!make_temp_dir(dir, sizeof dir))
		return 1;
	printf("FFT convolution, median us of execute(), one thread\n");
	printf("%-26s %5s %10s %12s %12s\n", "layer", "T", "generated",
	       "generic fft", "generic fftw");
	for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
		dp_desc d = { .op = DP_OP_CONV, .algo = DP_ALGO_FFT,
		              .precision = DP_PREC_FP32, .n = 1, .c = layers[i].c,
		              .h = layers[i].h, .w = layers[i].h,
		              .k = layers[i].k, .r = layers[i].r, .s = layers[i].r,
		              .stride = 1, .pad_h = layers[i].pad,
		              .pad_w = layers[i].pad };
		d.tile = dp_fft_default_tile(&d);
		size_t ni = (size_t)dp_conv_input_elems(&d);
		size_t nw = (size_t)dp_conv_weight_elems(&d);
		size_t no = (size_t)dp_conv_output_elems(&d);
		float *x = malloc(ni * 4), *w = malloc(nw * 4);
		float *bias = malloc((size_t)d.k * 4), *y = malloc(no * 4);
		rng_t r;
		rng_seed(&r, 7);
		fill_normal(&r, x, ni);
		fill_normal(&r, w, nw);
		fill_normal(&r, bias, (size_t)d.k);
		const dp_kernel *gen = build_kernel(&d, dir, err, sizeof err);
		double tg = gen ? time_conv(gen, &d, x, w, bias, y, budget) : -1;
		if (!gen)
			fprintf(stderr, "%s\n", err);
		double tf = time_conv(&dp_conv_fft_generic, &d, x, w, bias, y,
		                      budget);
		dp_desc dw = d;
		dw.algo = DP_ALGO_FFT_FFTW;
		dw.tile = 0;
		double tw = time_conv(&dp_conv_fftw_generic, &dw, x, w, bias, y,
		                      budget);
		char name[64];
		snprintf(name, sizeof name, "C%d H%d K%d %dx%d pad %d", d.c, d.h,
		         d.k, d.r, d.s, d.pad_h);
		printf("%-26s %5d %10.1f %12.1f %12.1f\n", name, d.tile, tg * 1e6,
		       tf * 1e6, tw * 1e6);
		free(x); free(w); free(bias); free(y);
	}
	bench_codelets(dir, budget);
	remove_tree(dir);
	return 0;
}
