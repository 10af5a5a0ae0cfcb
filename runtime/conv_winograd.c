/* conv_winograd.c - the generic Winograd convolution F(m x m, r x r):
 * any shape the descriptor check accepts (stride 1, square r x r kernel,
 * alpha = m + r - 1 <= DP_WINOGRAD_MAX_ALPHA), fp32.
 *
 * The transforms are derived at prepare time, in double, by the same
 * Cook-Toom construction as templates/lib/cooktoom.lua (read its header
 * for the algebra), written again independently here so that the two
 * cross-check each other:
 *   alpha - 1 finite points p_k and the point at infinity;
 *   N_k(x) = prod_{l != k} (x - p_l), D_k = N_k(p_k), P(x) = prod (x - p_l);
 *   row k of AT^T = (1, p_k, ..., p_k^(m-1)), of G = (1, ..., p_k^(r-1))/D_k,
 *   of BT = coefficients of N_k; the infinity row is e_(m-1), e_(r-1) and
 *   the coefficients of P;
 *   signs: the row of the point 0 (flipped with G) and the infinity row
 *   (flipped with AT) are negated when the lowest-order nonzero
 *   coefficient of their BT row is negative.
 * Then Y = AT [ (G g G^T) .* (BT d BT^T) ] AT^T per tile, with the same
 * three stages as the generated kernel (input transform into alpha^2
 * matrices of C x T, alpha^2 products with U, output transform), written
 * as plain loops.
 *
 * Threads: as in the generated kernel, each stage is one dp_parallel_for
 * over independent items (channels, products, filters), each item
 * writing its own part of V, M or the output in a fixed order, so results
 * are bitwise identical for any thread count. The work passed with each
 * call is the stage's multiply-adds (2 flops each) plus the floats it
 * loads and stores, counted from the loops below. */
#include <stdlib.h>
#include <string.h>

#include "dpgen.h"
#include "kernels.h"

#define MAXA DP_WINOGRAD_MAX_ALPHA

/* The default points, as in cooktoom.default_points (which says why):
 * 0, 1, -1, then for k = 2, 3, ...: k, -1/k, 1/k, -k. */
static void default_points(int n, double *pts)
{
	static const double first[3] = { 0, 1, -1 };
	int i = 0;
	for (; i < n && i < 3; i++)
		pts[i] = first[i];
	for (int k = 2; i < n; k++) {
		double cand[4] = { k, -1.0 / k, 1.0 / k, -k };
		for (int j = 0; j < 4 && i < n; j++)
			pts[i++] = cand[j];
	}
}

/* "p/q,p,..." into exactly n values; -1 if malformed or a value repeats
 * (dp_desc_check has the user-facing messages). */
static int parse_points(const char *s, int n, double *pts)
{
	int i = 0;
	while (*s) {
		char *end;
		if (i == n)
			return -1;
		long p = strtol(s, &end, 10), q = 1;
		if (end == s)
			return -1;
		s = end;
		if (*s == '/') {
			q = strtol(s + 1, &end, 10);
			if (end == s + 1 || q <= 0)
				return -1;
			s = end;
		}
		pts[i] = (double)p / (double)q;
		for (int j = 0; j < i; j++)
			if (pts[j] == pts[i])
				return -1;
		i++;
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return i == n ? 0 : -1;
}

/* c <- c * (x - root), c of degree deg (deg + 1 coefficients). */
static void mul_linear(double *c, int deg, double root)
{
	c[deg + 1] = 0;
	for (int t = deg + 1; t >= 0; t--)
		c[t] = (t > 0 ? c[t - 1] : 0) - root * c[t];
}

static double lowest_nonzero(const double *row, int n)
{
	for (int t = 0; t < n; t++)
		if (row[t] != 0)
			return row[t];
	return 0;
}

dp_status dp_winograd_transforms(int m, int r, const char *points,
                                 double *at, double *g, double *bt)
{
	const int alpha = m + r - 1;
	double pts[MAXA], e[MAXA][MAXA];
	if (m < 1 || r < 1 || alpha > MAXA)
		return DP_ERR_ARG;
	if (!points || !points[0])
		default_points(alpha - 1, pts);
	else if (parse_points(points, alpha - 1, pts) != 0)
		return DP_ERR_ARG;
	memset(e, 0, sizeof e);
	memset(g, 0, sizeof(double) * (size_t)(alpha * r));
	memset(bt, 0, sizeof(double) * (size_t)(alpha * alpha));
	for (int k = 0; k < alpha - 1; k++) {
		double nk[MAXA + 1] = { 1 }, dk = 1, pw = 1;
		int deg = 0;
		for (int l = 0; l < alpha - 1; l++)
			if (l != k) {
				mul_linear(nk, deg++, pts[l]);
				dk *= pts[k] - pts[l];
			}
		for (int i = 0; i < m || i < r; i++, pw *= pts[k]) {
			if (i < m)
				e[k][i] = pw;
			if (i < r)
				g[k * r + i] = pw / dk;
		}
		for (int t = 0; t <= deg; t++)
			bt[k * alpha + t] = nk[t];
		if (pts[k] == 0 && lowest_nonzero(&bt[k * alpha], alpha) < 0) {
			for (int t = 0; t < alpha; t++)
				bt[k * alpha + t] = -bt[k * alpha + t];
			for (int j = 0; j < r; j++)
				g[k * r + j] = -g[k * r + j];
		}
	}
	/* The point at infinity: the leading coefficients. */
	double pc[MAXA + 1] = { 1 };
	for (int l = 0; l < alpha - 1; l++)
		mul_linear(pc, l, pts[l]);
	int inf = alpha - 1;
	double sign = lowest_nonzero(pc, alpha) < 0 ? -1 : 1;
	for (int t = 0; t < alpha; t++)
		bt[inf * alpha + t] = sign * pc[t];
	e[inf][m - 1] = sign;
	g[inf * r + r - 1] = 1;
	for (int i = 0; i < m; i++)
		for (int k = 0; k < alpha; k++)
			at[i * alpha + k] = e[k][i];
	return DP_OK;
}

/* State: the header, then U (alpha^2 matrices of K x C), then the bias. */
typedef struct wstate {
	int m, r, alpha;
	float at[MAXA * MAXA];   /* m x alpha */
	float bt[MAXA * MAXA];   /* alpha x alpha */
} wstate;

static int64_t tiles(const dp_desc *d)
{
	int64_t ty = (dp_conv_out_h(d) + d->tile - 1) / d->tile;
	int64_t tx = (dp_conv_out_w(d) + d->tile - 1) / d->tile;
	return ty * tx;
}

static int alpha_of(const dp_desc *d)
{
	return d->tile + d->r - 1;
}

static size_t state_bytes(const dp_desc *d)
{
	size_t a = (size_t)alpha_of(d);
	return sizeof(wstate) +
	       (a * a * (size_t)d->k * (size_t)d->c + (size_t)d->k) *
	       sizeof(float);
}

static dp_status prepare(const dp_desc *d, const float *weights,
                         const float *bias, void *state)
{
	double at[MAXA * MAXA], g[MAXA * MAXA], bt[MAXA * MAXA];
	wstate *st = state;
	const int m = d->tile, r = d->r, a = alpha_of(d);
	if (d->tile < 1 || d->r != d->s || a > MAXA)
		return DP_ERR_UNSUPPORTED;
	dp_status s = dp_winograd_transforms(m, r, d->points, at, g, bt);
	if (s != DP_OK)
		return s;
	st->m = m;
	st->r = r;
	st->alpha = a;
	for (int i = 0; i < m * a; i++)
		st->at[i] = (float)at[i];
	for (int i = 0; i < a * a; i++)
		st->bt[i] = (float)bt[i];
	/* U = G g G^T in double, rounded once; stored as U[xi][k][c]. */
	float *u = (float *)(st + 1);
	const size_t kc = (size_t)d->k * (size_t)d->c;
	for (int k = 0; k < d->k; k++)
	for (int c = 0; c < d->c; c++) {
		const float *wk = weights + ((size_t)k * d->c + c) * r * r;
		double t[MAXA][MAXA];   /* G g: a x r */
		for (int i = 0; i < a; i++)
			for (int j = 0; j < r; j++) {
				double acc = 0;
				for (int l = 0; l < r; l++)
					acc += g[i * r + l] * wk[l * r + j];
				t[i][j] = acc;
			}
		for (int i = 0; i < a; i++)
			for (int j = 0; j < a; j++) {
				double acc = 0;
				for (int l = 0; l < r; l++)
					acc += t[i][l] * g[j * r + l];
				u[(size_t)(i * a + j) * kc + (size_t)k * d->c + c] =
					(float)acc;
			}
	}
	float *b = u + (size_t)a * a * kc;
	if (bias)
		memcpy(b, bias, (size_t)d->k * sizeof(float));
	else
		memset(b, 0, (size_t)d->k * sizeof(float));
	return DP_OK;
}

/* Workspace: V (alpha^2 matrices of C x T) and M (of K x T), one image. */
static size_t workspace_bytes(const dp_desc *d)
{
	size_t a = (size_t)alpha_of(d);
	return a * a * (size_t)(d->c + d->k) * (size_t)tiles(d) *
	       sizeof(float);
}

/* V = BT d BT^T of the tile at input (y0, x0), zeros outside the image;
 * element xi goes to v[xi * vs]. */
static void input_tile(const wstate *st, const float *plane, int h, int w,
                       int y0, int x0, float *v, ptrdiff_t vs)
{
	const int a = st->alpha;
	float dt[MAXA][MAXA], t[MAXA][MAXA];
	for (int i = 0; i < a; i++)
		for (int j = 0; j < a; j++) {
			int y = y0 + i, x = x0 + j;
			dt[i][j] = y >= 0 && y < h && x >= 0 && x < w ?
			           plane[(ptrdiff_t)y * w + x] : 0.0f;
		}
	for (int i = 0; i < a; i++)          /* t = BT d */
		for (int j = 0; j < a; j++) {
			float acc = 0;
			for (int l = 0; l < a; l++)
				acc += st->bt[i * a + l] * dt[l][j];
			t[i][j] = acc;
		}
	for (int i = 0; i < a; i++)          /* v = t BT^T */
		for (int j = 0; j < a; j++) {
			float acc = 0;
			for (int l = 0; l < a; l++)
				acc += t[i][l] * st->bt[j * a + l];
			v[(i * a + j) * vs] = acc;
		}
}

/* Y = AT m AT^T (element xi of m at m[xi * ms]) plus the bias, the
 * rows x cols inside the output stored at out (rows wo apart). */
static void output_tile(const wstate *st, const float *mt, ptrdiff_t ms,
                        float bias, float *out, int wo, int rows, int cols)
{
	const int a = st->alpha, m = st->m;
	float t[MAXA][MAXA];
	for (int i = 0; i < m; i++)          /* t = AT m */
		for (int j = 0; j < a; j++) {
			float acc = 0;
			for (int l = 0; l < a; l++)
				acc += st->at[i * a + l] * mt[(l * a + j) * ms];
			t[i][j] = acc;
		}
	for (int i = 0; i < rows; i++)       /* y = t AT^T */
		for (int j = 0; j < cols; j++) {
			float acc = 0;
			for (int l = 0; l < a; l++)
				acc += t[i][l] * st->at[j * a + l];
			out[(ptrdiff_t)i * wo + j] = acc + bias;
		}
}

/* One image's work, shared by the stages and their threads. */
typedef struct job {
	const dp_desc *d;
	const wstate *st;
	const float *img;     /* the image, C x H x W */
	float *out;           /* its output, K x HO x WO */
	const float *u, *bias;
	float *v, *mm;
	int ho, wo, tyn, txn;
	ptrdiff_t t_count, kc, ct, kt;
} job;

/* 1. Input transform of the channels [c0, c1): every tile of each. */
static void input_items(void *ctx, int c0, int c1)
{
	const job *j = ctx;
	const dp_desc *d = j->d;
	const int m = j->st->m;
	for (int c = c0; c < c1; c++) {
		const float *plane = j->img + (ptrdiff_t)c * d->h * d->w;
		for (int ty = 0; ty < j->tyn; ty++)
			for (int tx = 0; tx < j->txn; tx++)
				input_tile(j->st, plane, d->h, d->w,
				           ty * m - d->pad_h, tx * m - d->pad_w,
				           j->v + c * j->t_count + (ptrdiff_t)ty * j->txn +
				           tx, j->ct);
	}
}

/* 2. M_xi = U_xi (K x C) V_xi (C x T) for xi in [xi0, xi1). */
static void product_items(void *ctx, int xi0, int xi1)
{
	const job *j = ctx;
	const int kn = j->d->k, cn = j->d->c;
	const ptrdiff_t tn = j->t_count;
	for (int xi = xi0; xi < xi1; xi++)
		for (int k = 0; k < kn; k++) {
			float *row = j->mm + xi * j->kt + k * tn;
			for (ptrdiff_t t = 0; t < tn; t++)
				row[t] = 0;
			for (int c = 0; c < cn; c++) {
				const float ukc = j->u[xi * j->kc + (ptrdiff_t)k * cn + c];
				const float *vc = j->v + xi * j->ct + c * tn;
				for (ptrdiff_t t = 0; t < tn; t++)
					row[t] += ukc * vc[t];
			}
		}
}

/* 3. Output transform, bias and crop of the filters [k0, k1). */
static void output_items(void *ctx, int k0, int k1)
{
	const job *j = ctx;
	const int m = j->st->m, ho = j->ho, wo = j->wo;
	for (int k = k0; k < k1; k++) {
		float *plane = j->out + (ptrdiff_t)k * ho * wo;
		for (int ty = 0; ty < j->tyn; ty++)
			for (int tx = 0; tx < j->txn; tx++) {
				int rows = ho - ty * m < m ? ho - ty * m : m;
				int cols = wo - tx * m < m ? wo - tx * m : m;
				output_tile(j->st, j->mm + k * j->t_count +
				            (ptrdiff_t)ty * j->txn + tx, j->kt, j->bias[k],
				            plane + (ptrdiff_t)ty * m * wo + tx * m,
				            wo, rows, cols);
			}
	}
}

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	const wstate *st = state;
	const int a = st->alpha, m = st->m, xis = a * a;
	if (m != d->tile || st->r != d->r)
		return DP_ERR_ARG;
	job j = { .d = d, .st = st };
	j.ho = dp_conv_out_h(d);
	j.wo = dp_conv_out_w(d);
	j.tyn = (j.ho + m - 1) / m;
	j.txn = (j.wo + m - 1) / m;
	j.t_count = (ptrdiff_t)j.tyn * j.txn;
	j.kc = (ptrdiff_t)d->k * d->c;
	j.ct = (ptrdiff_t)d->c * j.t_count;
	j.kt = (ptrdiff_t)d->k * j.t_count;
	j.u = (const float *)(st + 1);
	j.bias = j.u + xis * j.kc;
	j.v = workspace;
	j.mm = j.v + xis * j.ct;
	/* Work per stage: per tile and channel the input transform is two
	 * products of alpha x alpha matrices (2 a^3 multiply-adds), a^2
	 * loads and a^2 stores; per tile and filter the output transform is
	 * m a^2 + m^2 a multiply-adds, a^2 loads and m^2 stores; the
	 * products are K C T multiply-adds per xi. */
	const double tiles_c = (double)j.t_count * d->c;
	const double tiles_k = (double)j.t_count * d->k;
	const double in_work = tiles_c * (4.0 * a * a * a + 2.0 * a * a);
	const double prod_work = 2.0 * xis * (double)j.kc * (double)j.t_count;
	const double out_work = tiles_k * (2.0 * (m * a * a + m * m * a) +
	                                   a * a + m * m);
	for (int n = 0; n < d->n; n++) {
		j.img = input + (ptrdiff_t)n * d->c * d->h * d->w;
		j.out = output + (ptrdiff_t)n * d->k * j.ho * j.wo;
		dp_parallel_for(d->c, in_work, input_items, &j);
		dp_parallel_for(xis, prod_work, product_items, &j);
		dp_parallel_for(d->k, out_work, output_items, &j);
	}
	return DP_OK;
}

const dp_kernel dp_conv_winograd_generic = {
	.name = "dp_conv_winograd_generic_fp32",
	.desc = { .op = DP_OP_CONV, .algo = DP_ALGO_WINOGRAD,
	          .precision = DP_PREC_FP32 },
	.generic = 1,
	.state_bytes = state_bytes,
	.prepare = prepare,
	.workspace_bytes = workspace_bytes,
	.execute = execute,
};
