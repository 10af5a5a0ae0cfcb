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
 * as plain loops. */
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

static dp_status execute(const dp_desc *d, const void *state,
                         const float *input, float *output, void *workspace)
{
	const wstate *st = state;
	const int a = st->alpha, m = st->m, xis = a * a;
	if (m != d->tile || st->r != d->r)
		return DP_ERR_ARG;
	const int ho = dp_conv_out_h(d), wo = dp_conv_out_w(d);
	const int tyn = (ho + m - 1) / m, txn = (wo + m - 1) / m;
	const ptrdiff_t t_count = (ptrdiff_t)tyn * txn;
	const ptrdiff_t kc = (ptrdiff_t)d->k * d->c;
	const ptrdiff_t ct = (ptrdiff_t)d->c * t_count;
	const ptrdiff_t kt = (ptrdiff_t)d->k * t_count;
	const float *u = (const float *)(st + 1);
	const float *bias = u + xis * kc;
	float *v = workspace, *mm = v + xis * ct;
	for (int n = 0; n < d->n; n++) {
		const float *img = input + (ptrdiff_t)n * d->c * d->h * d->w;
		float *out = output + (ptrdiff_t)n * d->k * ho * wo;
		/* 1. input transform */
		for (int c = 0; c < d->c; c++) {
			const float *plane = img + (ptrdiff_t)c * d->h * d->w;
			for (int ty = 0; ty < tyn; ty++)
				for (int tx = 0; tx < txn; tx++)
					input_tile(st, plane, d->h, d->w,
					           ty * m - d->pad_h, tx * m - d->pad_w,
					           v + c * t_count + (ptrdiff_t)ty * txn + tx,
					           ct);
		}
		/* 2. M_xi = U_xi (K x C) V_xi (C x T) */
		for (int xi = 0; xi < xis; xi++)
			for (int k = 0; k < d->k; k++) {
				float *row = mm + xi * kt + k * t_count;
				for (ptrdiff_t t = 0; t < t_count; t++)
					row[t] = 0;
				for (int c = 0; c < d->c; c++) {
					const float ukc = u[xi * kc + (ptrdiff_t)k * d->c + c];
					const float *vc = v + xi * ct + c * t_count;
					for (ptrdiff_t t = 0; t < t_count; t++)
						row[t] += ukc * vc[t];
				}
			}
		/* 3. output transform, bias, crop */
		for (int k = 0; k < d->k; k++) {
			float *plane = out + (ptrdiff_t)k * ho * wo;
			for (int ty = 0; ty < tyn; ty++)
				for (int tx = 0; tx < txn; tx++) {
					int rows = ho - ty * m < m ? ho - ty * m : m;
					int cols = wo - tx * m < m ? wo - tx * m : m;
					output_tile(st, mm + k * t_count +
					            (ptrdiff_t)ty * txn + tx, kt, bias[k],
					            plane + (ptrdiff_t)ty * m * wo + tx * m,
					            wo, rows, cols);
				}
		}
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
