-- conv_fft.lua - tiled FFT convolution (cross-correlation) for one shape.
--
-- Overlap-save. The zero-padded input is cut into T x T tiles that
-- overlap by R - 1 rows and S - 1 columns; tile (ty, tx) starts at row
-- ty * OUT_Y and column tx * OUT_X of the padded input, OUT_Y = T - R + 1,
-- OUT_X = T - S + 1. The circular cross-correlation of a tile with the
-- kernel (zero-padded to T x T, not flipped)
--   z[i][j] = sum_(u,v) tile[(i + u) mod T][(j + v) mod T] w[u][v]
-- equals the true output at (ty * OUT_Y + i, tx * OUT_X + j) for i < OUT_Y,
-- j < OUT_X (no index wraps); the other rows and columns are discarded.
-- In frequency: Z = X . conj(W), so the weights are stored conjugated
-- and the result needs no flip and no shift (the PyTorch convention).
--
--   prepare:  W = FFT2(w_kc) for every filter k and channel c, stored per
--             frequency f as the real 2CP x 2KP matrix
--               B_f = [ Re W   -Im W ]     (rows: channels, real parts of X
--                     [ Im W    Re W ]      then imaginary parts; columns:
--                                           filters, Re Z then Im Z)
--             and packed as the B of the generated GEMM;
--   execute:  1. the image into a zero-padded channels-last buffer,
--                scaled by 1/T^2 (see "Scaling");
--             2. X = FFT2(tile) for every tile and 8 channels at once
--                (vector lanes = channels), written straight into
--                XF_f = [Re X | Im X] (TILES x 2CP) for every frequency f;
--             3. per frequency f, one real GEMM
--                  [Re Z | Im Z] = [Re X | Im X] B_f    (TILES x 2KP)
--                which is the complex product Z = X conj(W) summed over
--                the channels (4 real products in one); with at most 8
--                channels and 8 filters the same product runs as a plain
--                vector loop over the unpacked B_f (SMALL_CHANNELS);
--             4. z = IFFT2(Z) per tile, 8 filters at once; rows and columns
--                past OUT_Y, OUT_X are not computed or dropped; plus the
--                bias, into the NCHW output, cropped at the image edge.
-- The 2-D transform is real-input: T row transforms give T/2 + 1
-- frequencies each (lib/fft.lua's r2c codelet), then T/2 + 1 complex
-- column transforms (fwd codelet); the inverse runs columns (inv) then
-- rows (c2r). FREQ = T (T/2 + 1) frequencies; conjugate-symmetric ones
-- are never computed.
--
-- Scaling (where the 1/N goes). The inverse codelets are unnormalized
-- (T^2 times the inverse DFT), so one factor 1/T^2 is needed. It is
-- applied once, exactly (a power of two), when the input is copied into
-- the padded buffer. There it is safe for fp16/bf16 storage:
--   - every value of the forward transform, final or partial, is a sum of
--     at most T^2 terms x/T^2 of unit-modulus weights: |.| <= max|x|;
--   - the weight spectrum is a sum of the R*S taps: |W| <= sum |w_kc|;
--   - a product summed over channels is bounded by
--     sum_c max|x_c| sum|w_kc|, the bound of an output itself;
--   - the inverse of the column pass holds, for each frequency column v,
--     (1/T) sum_x z[i][x] exp(-2 pi i x v / T) (by construction of the
--     transform), so it and its partial sums stay <= max |z| (the circular
--     outputs, each a correlation of real data, within the same bound),
--     and the final row pass produces z itself.
-- So no intermediate exceeds about twice the larger of max|x|, sum|w| and
-- the output bound (the real-input butterflies add up to a factor 2):
-- scaling the output instead would let the forward transform grow by T^2
-- (4096 for T = 64, overflowing fp16 for |x| > 16).
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local gemm = require("lib.gemm")
local fft = require("lib.fft")

local M = {}

local LANES = 8   -- floats per vector (AVX2); see lib/gemm.lua

-- Up to this many (padded) channels and filters the products run as a
-- plain loop instead of the generated GEMM (measured, one run: C = K = 8
-- at T = 64 took 1180 us with 2080 tiny GEMM calls, 950 us with the
-- loop; at C = K = 16, T = 32 the GEMM won, 420 us against 580).
local SMALL_CHANNELS = 8

local function round_up(x, m) return (x + m - 1) // m * m end
local function ceil_div(a, b) return (a + b - 1) // b end

local function geometry(d)
	local g = { t = d.tile }
	assert(g.t and g.t >= d.r and g.t >= d.s, "fft: tile smaller than the kernel")
	g.half = g.t // 2 + 1
	g.freq = g.t * g.half
	g.out_y, g.out_x = g.t - d.r + 1, g.t - d.s + 1
	g.tiles_y, g.tiles_x = ceil_div(d.ho, g.out_y), ceil_div(d.wo, g.out_x)
	g.tiles = g.tiles_y * g.tiles_x
	g.cp, g.kp = round_up(d.c, LANES), round_up(d.k, LANES)
	g.hp = (g.tiles_y - 1) * g.out_y + g.t
	g.wp = (g.tiles_x - 1) * g.out_x + g.t
	local lg = 0
	while (1 << lg) < g.t do lg = lg + 1 end
	g.lg = lg
	-- Few channels and filters: the product of a frequency is a handful
	-- of vector multiply-adds per tile, and a GEMM call per frequency
	-- (FREQ = 2080 of them for T = 64) costs more than the work; a plain
	-- loop over the unpacked B_f, 2KP/8 accumulators, does better.
	g.loop = g.cp <= SMALL_CHANNELS and g.kp <= SMALL_CHANNELS
	return g
end

local function emit_constants(e, d, g)
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d, K = %d, R = %d, S = %d,",
		d.n, d.c, d.h, d.w, d.k, d.r, d.s)
	e:line("\tPAD_H = %d, PAD_W = %d, HO = %d, WO = %d,", d.pad_h, d.pad_w,
		d.ho, d.wo)
	e:line("\t/* T x T transforms; a real row of T gives HALF = T/2 + 1")
	e:line("\t * frequencies, a tile FREQ of them. */")
	e:line("\tFT = %d, HALF = %d, FREQ = %d,", g.t, g.half, g.freq)
	e:line("\t/* Overlap-save: each tile yields OUT_Y x OUT_X outputs; tiles")
	e:line("\t * overlap by R - 1 rows and S - 1 columns. */")
	e:line("\tOUT_Y = %d, OUT_X = %d,", g.out_y, g.out_x)
	e:line("\tTILES_Y = %d, TILES_X = %d, TILES = TILES_Y * TILES_X,",
		g.tiles_y, g.tiles_x)
	e:line("\t/* Channels and filters rounded up to whole vectors of %d: the", LANES)
	e:line("\t * transforms work on %d channels (filters) at once; the extra", LANES)
	e:line("\t * ones are zero and drop out of the products. */")
	e:line("\tLANES = %d, CP = %d, KP = %d,", LANES, g.cp, g.kp)
	e:line("\t/* The padded channels-last input covers every tile, the last")
	e:line("\t * ones included, so no tile tests a bound. */")
	e:line("\tHP = %d, WP = %d", g.hp, g.wp)
	e:line("};")
	e:line()
	e:line("/* Floats per frequency of the transformed input (TILES x 2CP: real")
	e:line(" * parts of the channels, then imaginary) and of the products")
	e:line(" * (TILES x 2KP); the padded input; the row-pass scratch of a tile. */")
	e:line("static const ptrdiff_t XF = (ptrdiff_t)TILES * 2 * CP;")
	e:line("static const ptrdiff_t ZF = (ptrdiff_t)TILES * 2 * KP;")
	e:line("static const ptrdiff_t PADDED = (ptrdiff_t)HP * WP * CP;")
	e:line("static const ptrdiff_t SCRATCH = (ptrdiff_t)2 * FT * HALF * LANES;")
	e:line("static const ptrdiff_t ROWS_OUT = (ptrdiff_t)OUT_Y * FT * LANES;")
	e:line()
	e:line("/* The one normalization of the method, 1/T^2 = 2^-%d, exact: applied", 2 * g.lg)
	e:line(" * to the input as it is padded, where it keeps every transform")
	e:line(" * value within the data's own range (fp16/bf16 safe; see the")
	e:line(" * template's header, templates/conv_fft.lua). */")
	e:line("static const float INV_AREA = 0x1p-%df;", 2 * g.lg)
	e:line()
	e:line("/* %d floats; loads and stores of it are aligned (every offset is a", LANES)
	e:line(" * multiple of %d floats from a 64-byte boundary). */", LANES)
	e:line("typedef float vec __attribute__((vector_size(%d)));", LANES * 4)
	e:line()
end

local function emit_tiles(e)
	e:line("/* Forward 2-D transform of a T x T tile, LANES independent tiles")
	e:line(" * at once: element (i, j) at src[i * rs + j * cs]; frequency (u, v)")
	e:line(" * to yr/yi[(u * HALF + v) * fs]. Rows first (real input), then")
	e:line(" * the HALF complex columns. scratch: SCRATCH floats. */")
	e:line("static void tile_forward(const vec *src, ptrdiff_t rs, ptrdiff_t cs,")
	e:line("                         vec *yr, vec *yi, ptrdiff_t fs, vec *scratch)")
	e:open("{")
	e:line("vec *tr = scratch, *ti = scratch + FT * HALF;")
	e:single("for (int i = 0; i < FT; i++)",
		"fft_r2c(src + i * rs, cs, tr + i * HALF, ti + i * HALF, 1);")
	e:single("for (int v = 0; v < HALF; v++)",
		"fft_fwd(tr + v, ti + v, HALF, yr + v * fs, yi + v * fs, HALF * fs);")
	e:close("}")
	e:line()
	e:line("/* Inverse 2-D transform (unnormalized) of LANES spectra, frequency")
	e:line(" * (u, v) at zr/zi[(u * HALF + v) * fs]: columns, then only the rows")
	e:line(" * that overlap-save keeps, into y (OUT_Y x FT). */")
	e:line("static void tile_inverse(const vec *zr, const vec *zi, ptrdiff_t fs,")
	e:line("                         vec *y, vec *scratch)")
	e:open("{")
	e:line("vec *tr = scratch, *ti = scratch + FT * HALF;")
	e:single("for (int v = 0; v < HALF; v++)",
		"fft_inv(zr + v * fs, zi + v * fs, HALF * fs, tr + v, ti + v, HALF);")
	e:single("for (int i = 0; i < OUT_Y; i++)",
		"fft_c2r(tr + i * HALF, ti + i * HALF, 1, y + i * FT, 1);")
	e:close("}")
	e:line()
	e:line("/* The image into the padded channels-last buffer, times 1/T^2 (zeros")
	e:line(" * around it and in the channels past C). */")
	e:line("static void pad_input(const float *restrict img, float *restrict p)")
	e:open("{")
	e:line("memset(p, 0, PADDED * sizeof(float));")
	e:open("for (int y = 0; y < H; y++) {")
	e:line("float *row = p + ((ptrdiff_t)(y + PAD_H) * WP + PAD_W) * CP;")
	e:single("for (int c = 0; c < C; c++)", "for (int x = 0; x < W; x++)")
	e.depth = e.depth + 2
	e:line("row[(ptrdiff_t)x * CP + c] = INV_AREA * img[((ptrdiff_t)c * H + y) * W + x];")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_products(e)
	e:line("/* Z_f = X_f B_f for every frequency f without the GEMM (few channels")
	e:line(" * and filters): per tile, row t of X_f (2CP values, the padded")
	e:line(" * channels skipped) times B_f (2CP x 2KP, unpacked), 2KP / LANES")
	e:line(" * accumulators; B_f stays in L1 across the tiles. */")
	e:line("static void products(const float *restrict x, const float *restrict bw,")
	e:line("                     float *restrict z)")
	e:open("{")
	e:line("enum { NV = 2 * KP / LANES };   /* vectors in a row of Z */")
	e:open("for (int f = 0; f < FREQ; f++) {")
	e:line("const float *bf = bw + (ptrdiff_t)f * (2 * CP) * (2 * KP);")
	e:open("for (int t = 0; t < TILES; t++) {")
	e:line("const float *xt = x + f * XF + (ptrdiff_t)t * 2 * CP;")
	e:line("vec acc[NV];")
	e:single("for (int j = 0; j < NV; j++)", "acc[j] = (vec){ 0 };")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("/* scalar - zero vector: a clean broadcast (see PERF-NOTES). */")
	e:line("const vec xr = xt[c] - (vec){ 0 }, xi = xt[CP + c] - (vec){ 0 };")
	e:line("const vec *br = (const vec *)(bf + (ptrdiff_t)c * 2 * KP);")
	e:line("const vec *bi = (const vec *)(bf + (ptrdiff_t)(CP + c) * 2 * KP);")
	e:single("for (int j = 0; j < NV; j++)", "acc[j] += xr * br[j] + xi * bi[j];")
	e:close("}")
	e:line("vec *zt = (vec *)(z + f * ZF + (ptrdiff_t)t * 2 * KP);")
	e:single("for (int j = 0; j < NV; j++)", "zt[j] = acc[j];")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_state(e, g)
	e:line("/* The first 64-byte boundary at or after p. */")
	e:line("static float *align_up(const void *p)")
	e:open("{")
	e:line("const uintptr_t bytes = ALIGN * sizeof(float);")
	e:line("return (float *)(((uintptr_t)p + bytes - 1) & ~(bytes - 1));")
	e:close("}")
	e:line()
	e:line("/* State: the bias (KP values), then B_f packed for the GEMM, FREQ")
	e:line(" * sets of PACKED_B floats. */")
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)FREQ * PACKED_B + KP + 2 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("/* The weights' transform, once per weights: LANES filters of one")
	e:line(" * channel at a time, zero-padded to T x T (not flipped: Z = X conj W")
	e:line(" * is the correlation), into the B_f of every frequency, packed. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("const ptrdiff_t BF = (ptrdiff_t)(2 * CP) * (2 * KP);   /* one B_f */")
	e:line("float *b = align_up(state);")
	e:line("float *packed = align_up(b + KP);")
	e:line("float *bf = calloc((size_t)FREQ * BF, sizeof(float));")
	e:line("vec *tile = aligned_alloc(64, ((size_t)FT * FT + 2 * FREQ) * sizeof(vec) +")
	e:line("                          SCRATCH * sizeof(float));")
	e:line("(void)d;")
	e:open("if (!bf || !tile) {")
	e:line("free(bf);")
	e:line("free(tile);")
	e:line("return DP_ERR_NOMEM;")
	e:close("}")
	e:line("vec *sr = tile + FT * FT, *si = sr + FREQ, *scratch = si + FREQ;")
	e:open("for (int c = 0; c < C; c++) {")
	e:open("for (int k0 = 0; k0 < K; k0 += LANES) {")
	e:line("memset(tile, 0, (size_t)FT * FT * sizeof(vec));")
	e:single("for (int l = 0; l < LANES && k0 + l < K; l++)",
		"for (int i = 0; i < R; i++)")
	e.depth = e.depth + 2
	e:single("for (int j = 0; j < S; j++)",
		"tile[i * FT + j][l] = weights[(((ptrdiff_t)(k0 + l) * C + c) * R + i) * S + j];")
	e.depth = e.depth - 2
	e:line("tile_forward(tile, FT, 1, sr, si, 1, scratch);")
	e:open("for (int f = 0; f < FREQ; f++) {")
	e:line("float *m = bf + f * BF;")
	e:open("for (int l = 0; l < LANES && k0 + l < K; l++) {")
	e:line("const int k = k0 + l;")
	e:line("m[(ptrdiff_t)c * 2 * KP + k] = sr[f][l];")
	e:line("m[(ptrdiff_t)c * 2 * KP + KP + k] = -si[f][l];")
	e:line("m[(ptrdiff_t)(CP + c) * 2 * KP + k] = si[f][l];")
	e:line("m[(ptrdiff_t)(CP + c) * 2 * KP + KP + k] = sr[f][l];")
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	if g.loop then
		e:line("memcpy(packed, bf, (size_t)FREQ * BF * sizeof(float));")
	else
		e:single("for (int f = 0; f < FREQ; f++)",
			"gemm_pack_b(bf + f * BF, packed + (ptrdiff_t)f * PACKED_B);")
	end
	e:line("free(bf);")
	e:line("free(tile);")
	e:line("memset(b, 0, KP * sizeof(float));")
	e:single("if (bias)", "memcpy(b, bias, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("/* Workspace, each part from a 64-byte boundary: the padded input,")
	e:line(" * the transformed input, the products, the GEMM's packed A, the")
	e:line(" * row-pass scratch and the kept rows of an inverse tile. */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)PADDED + FREQ * (XF + ZF) + PACKED_A + SCRATCH +")
	e:line("        ROWS_OUT + 6 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
end

local function emit_execute(e, g)
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const float *bias = align_up(state);")
	e:line("const float *packed_w = align_up(bias + KP);")
	e:line("float *p = align_up(workspace);")
	e:line("float *x = align_up(p + PADDED);")
	e:line("float *z = align_up(x + FREQ * XF);")
	e:line("float *packed_a = align_up(z + FREQ * ZF);")
	e:line("vec *scratch = (vec *)align_up(packed_a + PACKED_A);")
	e:line("vec *rows = (vec *)align_up((float *)scratch + SCRATCH);")
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("float *out = output + (ptrdiff_t)n * K * HO * WO;")
	e:line("pad_input(input + (ptrdiff_t)n * C * H * W, p);")
	e:line()
	e:line("/* 1. Forward transform of every tile, LANES channels at a time,")
	e:line(" *    into the GEMM's A of every frequency. */")
	e:open("for (int t = 0; t < TILES; t++) {")
	e:line("const int y0 = t / TILES_X * OUT_Y, x0 = t % TILES_X * OUT_X;")
	e:line("const float *base = p + ((ptrdiff_t)y0 * WP + x0) * CP;")
	e:line("float *xt = x + (ptrdiff_t)t * 2 * CP;")
	e:single("for (int c0 = 0; c0 < CP; c0 += LANES)",
		"tile_forward((const vec *)(base + c0), WP * CP / LANES, CP / LANES,")
	e:line("             (vec *)(xt + c0), (vec *)(xt + CP + c0), XF / LANES, scratch);")
	e:close("}")
	e:line()
	e:line("/* 2. Per frequency, Z_f = X_f conj(W_f) summed over the channels:")
	e:line(" *    (TILES x 2CP)(2CP x 2KP) with the generated GEMM. */")
	if g.loop then
		e:line("products(x, packed_w, z);")
		e:line("(void)packed_a;")
	else
		e:single("for (int f = 0; f < FREQ; f++)",
			"gemm_run(x + f * XF, packed_w + (ptrdiff_t)f * PACKED_B, z + f * ZF, packed_a);")
	end
	e:line()
	e:line("/* 3. Inverse transform, crop, bias; LANES filters at a time. */")
	e:open("for (int t = 0; t < TILES; t++) {")
	e:line("const int ty = t / TILES_X, tx = t % TILES_X;")
	e:line("const int nr = HO - ty * OUT_Y < OUT_Y ? HO - ty * OUT_Y : OUT_Y;")
	e:line("const int nc = WO - tx * OUT_X < OUT_X ? WO - tx * OUT_X : OUT_X;")
	e:line("const float *zt = z + (ptrdiff_t)t * 2 * KP;")
	e:open("for (int k0 = 0; k0 < K; k0 += LANES) {")
	e:line("tile_inverse((const vec *)(zt + k0), (const vec *)(zt + KP + k0),")
	e:line("             ZF / LANES, rows, scratch);")
	e:open("for (int l = 0; l < LANES && k0 + l < K; l++) {")
	e:line("float *plane = out + (ptrdiff_t)(k0 + l) * HO * WO +")
	e:line("               (ptrdiff_t)ty * OUT_Y * WO + tx * OUT_X;")
	e:line("const float b = bias[k0 + l];")
	e:single("for (int i = 0; i < nr; i++)", "for (int j = 0; j < nc; j++)")
	e.depth = e.depth + 2
	e:line("plane[(ptrdiff_t)i * WO + j] = rows[i * FT + j][l] + b;")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local g = geometry(d)
	local e = emit.new()
	kernel.banner(e, d, name, string.format(
		"tiled FFT convolution, %dx%d tiles, overlap-save", g.t, g.t))
	e:line("#include <stddef.h>")
	e:line("#include <stdint.h>")
	e:line("#include <stdlib.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:comment({
		string.format("Overlap-save FFT cross-correlation: %d x %d real transforms,", g.t, g.t),
		string.format("%d x %d outputs per tile, %d tiles; per frequency one real GEMM", g.out_y,
			g.out_x, g.tiles),
		"[Re Z | Im Z] = [Re X | Im X] [Re W, -Im W; Im W, Re W] = X conj(W)",
		"(" .. (g.loop and "a plain loop: few channels and filters" or "the generated GEMM") .. "),",
		"the complex product summed over channels. The input is scaled by",
		"1/T^2 when it is padded: the one normalization (templates/conv_fft.lua",
		"explains why there).",
	})
	e:line()
	emit_constants(e, d, g)
	local spec = { name = "gemm", m = g.tiles, n = 2 * g.kp, k = 2 * g.cp }
	if g.loop then
		e:line("/* B_f as it is (2CP x 2KP floats, unpacked): the products run as a")
		e:line(" * loop, no GEMM (few channels and filters). */")
		e:line("enum { PACKED_B = %d, PACKED_A = 0, ALIGN = %d };",
			4 * g.cp * g.kp, gemm.ALIGN_FLOATS)
		e:line()
		e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
		e:line(" * mode its default is -ffp-contract=off (clang contracts by default). */")
		e:line("#if defined(__GNUC__) && !defined(__clang__)")
		e:line('#pragma GCC optimize("fp-contract=fast")')
		e:line("#endif")
		e:line()
	else
		e:line("/* The GEMM's buffers, in floats. */")
		e:line("enum { PACKED_B = %d, PACKED_A = %d, ALIGN = %d };",
			gemm.packed_b_floats(spec), gemm.workspace_floats(spec), gemm.ALIGN_FLOATS)
		e:line()
		gemm.emit(e, spec)
	end
	fft.emit(e, { t = g.t, ty = "vec", prefix = "fft" })
	emit_tiles(e)
	if g.loop then emit_products(e) end
	emit_state(e, g)
	emit_execute(e, g)
	kernel.object(e, d, name)
	return e:text()
end

return M
