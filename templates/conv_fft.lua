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
-- That is the layout for C >= 8 channels. With fewer channels than
-- vector lanes the rows of a tile go in the lanes instead and the
-- products use the true C: see "Shapes with few channels" below.
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
--
-- Threads (issue 7). Every phase of execute() (padding, forward
-- transforms, products, inverse transforms with crop and bias) is one
-- par_for (lib/parallel.lua) over that phase's items: rows of the padded
-- input, tiles (all channels: a tile's groups of LANES channels write
-- the same cache lines of X), frequencies, tiles by groups of filters
-- (the few-channel layouts: tiles, rows of tiles by filters). The items are cut into at most MAX_SLICES fixed slices, the
-- par_for's items; a call of the phase function gets slices [s0, s1),
-- runs their items in order on one thread, and uses slot s0 of the
-- workspace as its scratch (transform scratch, kept rows, the GEMM's
-- packed A). Calls running at once have different first slices, so no
-- two threads share scratch; on one thread the phase is one call and
-- reuses one slot, the cache footprint of a serial kernel (a slot per
-- slice cost the stem 18% on one thread: 8 MB of scratch going round).
-- Scratch carries nothing from one item to the next, so each item is
-- computed alike whatever thread and slot run it: the output is bitwise
-- identical for any thread count. A par_for inside a phase (the GEMM's)
-- runs serially. Each par_for gets the phase's work in flops, counted
-- from what is emitted: the additions and
-- multiplications of each FFT codelet (lib/fft.lua's op_counts) times the
-- LANES transforms of a call, 2 per multiply-add of the products, 1 per
-- float of the padding; dp_parallel_for keeps phases too small to pay
-- for a second thread on the caller's (a one-tile layer stays serial
-- anyway: one item).
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local gemm = require("lib.gemm")
local fft = require("lib.fft")
local parallel = require("lib.parallel")

local M = {}

local LANES = 8   -- floats per vector (AVX2); see lib/gemm.lua

-- Up to this many (padded) channels and filters the products run as a
-- plain loop instead of the generated GEMM (measured, one run: C = K = 8
-- at T = 64 took 1180 us with 2080 tiny GEMM calls, 950 us with the
-- loop; at C = K = 16, T = 32 the GEMM won, 420 us against 580).
local SMALL_CHANNELS = 8

local function round_up(x, m) return (x + m - 1) // m * m end
local function ceil_div(a, b) return (a + b - 1) // b end

-- Slices per phase at most (see "Threads" above): enough for a few
-- threads to share the items of a phase in chunks (dp_parallel_for claims
-- chunks in order), few enough that the slots (one per slice) stay small
-- next to the rest of the workspace.
local MAX_SLICES = 16

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
	-- What the vector lanes hold (see "Shapes with few channels" below):
	-- in the forward transform channels, or with fewer channels than
	-- lanes the rows of one tile; in the inverse filters, or with fewer
	-- filters than lanes too the rows of one tile.
	g.fwd = d.c < LANES and "rows" or "channels"
	g.inv = (g.fwd == "rows" and d.k < LANES) and "rows" or "filters"
	return g
end

-- The threads part shared by both layouts (see "Threads" above): the
-- slicing of each phase and its work. phases: list of { name = "FWD",
-- items = C expression, what = its meaning, work = flops, how = how they
-- were counted }; ops: lib/fft.lua's op_counts for the tile size.
local function emit_phases(e, phases, ops)
	parallel.emit(e)
	e:line("/* Threads: each phase of execute() is one par_for over a fixed cut")
	e:line(" * of its items into at most MAX_SLICES slices. A call for slices")
	e:line(" * [s0, s1) runs on one thread with slot s0 of the workspace as its")
	e:line(" * scratch: calls running at once never share one, and one thread")
	e:line(" * reuses a single slot. No item reads scratch another wrote, so the")
	e:line(" * results are bitwise identical for any thread count. Items:")
	for i, ph in ipairs(phases) do
		e:line(" *   %s: %s%s", ph.name, ph.what, i == #phases and ". */" or ";")
	end
	e:line("enum {")
	e:line("	MAX_SLICES = %d,", MAX_SLICES)
	for i, ph in ipairs(phases) do
		e:line("	%s_ITEMS = %s,", ph.name, ph.items)
		e:line("	%s_SLICES = %s_ITEMS < MAX_SLICES ? %s_ITEMS : MAX_SLICES%s",
			ph.name, ph.name, ph.name, i == #phases and "" or ",")
	end
	e:line("};")
	e:line()
	e:line("/* The work of each phase in flops, for par_for, which keeps a phase")
	e:line(" * too small to pay for a hand-off on the calling thread. A codelet")
	e:line(" * call counts its additions and multiplications as emitted above")
	e:line(" * (r2c %d, c2r %d, fwd %d, inv %d) times the LANES transforms it",
		ops.r2c, ops.c2r, ops.fwd, ops.inv)
	e:line(" * does; a multiply-add of the products 2; a float padded or stored")
	e:line(" * 1. */")
	local decl, width = {}, 0
	for i, ph in ipairs(phases) do
		decl[i] = string.format("static const double %s_WORK = %.1f;", ph.name, ph.work)
		width = math.max(width, #decl[i])
	end
	for i, ph in ipairs(phases) do
		if #ph.how > 40 then
			e:line("/* %s */", ph.how)
			e:line("%s", decl[i])
		else
			e:line("%s%s/* %s */", decl[i], string.rep(" ", width - #decl[i] + 3), ph.how)
		end
	end
	e:line()
	e:line("/* The first item of slice s when items are cut into n slices. */")
	e:line("static int slice_start(int items, int n, int s)")
	e:open("{")
	e:line("return (int)((long long)items * s / n);")
	e:close("}")
	e:line()
end

local emit_channel_constants

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
	if g.fwd == "channels" then emit_channel_constants(e, g) end
	e:line("/* %d floats; loads and stores of it are aligned (every offset is a", LANES)
	e:line(" * multiple of %d floats from a 64-byte boundary). */", LANES)
	e:line("typedef float vec __attribute__((vector_size(%d)));", LANES * 4)
	e:line()
end

function emit_channel_constants(e, g)
	e:line("/* Floats per frequency of the transformed input (TILES x 2CP: real")
	e:line(" * parts of the channels, then imaginary) and of the products")
	e:line(" * (TILES x 2KP); the padded input; the row-pass scratch of a tile; the")
	e:line(" * kept rows of an inverse tile. */")
	e:line("static const ptrdiff_t XF = (ptrdiff_t)TILES * 2 * CP;")
	e:line("static const ptrdiff_t ZF = (ptrdiff_t)TILES * 2 * KP;")
	e:line("static const ptrdiff_t PADDED = (ptrdiff_t)HP * WP * CP;")
	e:line("enum { SCRATCH = 2 * FT * HALF * LANES, ROWS_OUT = OUT_Y * FT * LANES };")
	e:line()
	e:line("/* The one normalization of the method, 1/T^2 = 2^-%d, exact: applied", 2 * g.lg)
	e:line(" * to the input as it is padded, where it keeps every transform")
	e:line(" * value within the data's own range (fp16/bf16 safe; see the")
	e:line(" * template's header, templates/conv_fft.lua). */")
	e:line("static const float INV_AREA = 0x1p-%df;", 2 * g.lg)
	e:line()
end

local function emit_tile_inverse(e)
	e:line("/* Inverse 2-D transform (unnormalized) of LANES spectra, frequency")
	e:line(" * (u, v) at zr/zi[(u * HALF + v) * fs]: columns, then only the rows")
	e:line(" * that overlap-save keeps, into y (OUT_Y x FT).")
	e:line(" * Out of line (noinline), so that it holds the one inlined copy of")
	e:line(" * its codelets: inlined into its callers it calls them per row and")
	e:line(" * column instead (callgrind, C16 H64 K16 T32: 5% more instructions). */")
	e:line("__attribute__((noinline))")
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
end

local function emit_tiles(e)
	e:line("/* Forward 2-D transform of a T x T tile, LANES independent tiles")
	e:line(" * at once: element (i, j) at src[i * rs + j * cs]; frequency (u, v)")
	e:line(" * to yr/yi[(u * HALF + v) * fs]. Rows first (real input), then")
	e:line(" * the HALF complex columns. scratch: SCRATCH floats.")
	e:line(" * Out of line (noinline), so that it holds the one inlined copy of")
	e:line(" * its codelets: inlined into its callers it calls them per row and")
	e:line(" * column instead (callgrind, C16 H64 K16 T32: 5% more instructions). */")
	e:line("__attribute__((noinline))")
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
	emit_tile_inverse(e)
	e:line("/* Rows [y0, y1) of the padded channels-last buffer: the image times")
	e:line(" * 1/T^2, zeros around it and in the channels past C (one memset for")
	e:line(" * all the rows: one call on one thread, as many small ones cost). */")
	e:line("static void pad_rows(const float *restrict img, float *restrict p, int y0, int y1)")
	e:open("{")
	e:line("memset(p + (ptrdiff_t)y0 * WP * CP, 0, (size_t)(y1 - y0) * WP * CP * sizeof(float));")
	e:open("for (int y = y0 > PAD_H ? y0 : PAD_H; y < y1 && y < PAD_H + H; y++) {")
	e:line("float *row = p + (ptrdiff_t)y * WP * CP;")
	e:line("const float *src = img + (ptrdiff_t)(y - PAD_H) * W;")
	e:single("for (int c = 0; c < C; c++)", "for (int x = 0; x < W; x++)")
	e.depth = e.depth + 2
	e:line("row[(ptrdiff_t)(x + PAD_W) * CP + c] = INV_AREA * src[(ptrdiff_t)c * H * W + x];")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_products(e)
	e:line("/* Z_f = X_f B_f for f0 <= f < f1 without the GEMM (few channels and")
	e:line(" * filters): per tile, row t of X_f (2CP values, the padded channels")
	e:line(" * skipped) times B_f (2CP x 2KP, unpacked), 2KP / LANES accumulators;")
	e:line(" * B_f stays in L1 across the tiles. */")
	e:line("static void products(const float *restrict x, const float *restrict bw,")
	e:line("                     float *restrict z, int f0, int f1)")
	e:open("{")
	e:line("enum { NV = 2 * KP / LANES };   /* vectors in a row of Z */")
	e:open("for (int f = f0; f < f1; f++) {")
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
	kernel.align_up(e)
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
	e:line(" * the transformed input, the products, and a slot of scratch per")
	e:line(" * slice of a phase (SLOTS of SLOT floats). */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)PADDED + FREQ * (XF + ZF) + (size_t)SLOTS * SLOT + 4 * ALIGN) *")
	e:line("       sizeof(float);")
	e:close("}")
	e:line()
end

-- The phases of the channels layout and the scratch of a slice (see
-- "Threads" in the header); packed_a: the GEMM's packed A, floats.
local function emit_channel_threads(e, d, g, packed_a)
	local ops = fft.op_counts(g.t)
	local cg, kg = g.cp // LANES, g.kp // LANES
	local prod
	if g.loop then
		prod = { work = g.freq * g.tiles * d.c * 2 * g.kp * 4,
			how = "4 per lane, channel and vector of Z: 8 FREQ TILES C KP" }
	else
		prod = { work = 2 * g.freq * g.tiles * (2 * g.cp) * (2 * g.kp),
			how = "2 FREQ TILES 2CP 2KP" }
	end
	emit_phases(e, {
		{ name = "PAD", items = "HP", what = "rows of the padded input",
			work = g.hp * g.wp * g.cp, how = "HP WP CP" },
		{ name = "FWD", items = "TILES",
			what = "tiles, all CP channels (their groups share X's cache lines)",
			work = g.tiles * cg * LANES * (g.t * ops.r2c + g.half * ops.fwd),
			how = "TILES CP (FT r2c + HALF fwd)" },
		{ name = "PROD", items = "FREQ", what = "frequencies",
			work = prod.work, how = prod.how },
		{ name = "INV", items = "TILES * (KP / LANES)",
			what = "tiles by LANES filters, tile-major",
			work = g.tiles * kg * LANES * (g.half * ops.inv + g.out_y * ops.c2r) +
				d.k * d.ho * d.wo,
			how = "TILES KP (HALF inv + OUT_Y c2r) + K HO WO" },
	}, ops)
	local transforms = 2 * g.t * g.half * LANES + g.out_y * g.t * LANES
	e:line("/* A slot of scratch, floats (whole 64-byte lines): the row-pass")
	e:line(" * scratch of a tile transform (SCRATCH) and the kept rows of an")
	if packed_a > transforms then
		e:line(" * inverse tile (ROWS_OUT), or more: the GEMM's packed A. A call of")
		e:line(" * any phase but the padding takes one; SLOTS at most. */")
		e:line("enum { SLOT = (PACKED_A + ALIGN - 1) / ALIGN * ALIGN,")
		e:line("       SLOTS = PROD_SLICES };   /* the most slices */")
	else
		e:line(" * inverse tile (ROWS_OUT); %s.",
			packed_a > 0 and "in the products, the GEMM's packed A (fewer)" or
			(g.loop and "the products need none" or "the GEMM packs nothing"))
		e:line(" * A call of a phase that needs one takes one; SLOTS at most. */")
		if packed_a > 0 then
			e:line("enum { SLOT = SCRATCH + ROWS_OUT, SLOTS = PROD_SLICES };   /* the most slices */")
		else
			e:line("enum { SLOT = SCRATCH + ROWS_OUT,")
			e:line("       SLOTS = FWD_SLICES > INV_SLICES ? FWD_SLICES : INV_SLICES };")
		end
	end
	e:line()
end

local function emit_execute(e, g)
	e:line("/* What the phases of one image share. */")
	e:line("struct job {")
	e:line("\tconst float *img, *packed_w, *bias;")
	e:line("\tfloat *p, *x, *z, *slots, *out;")
	e:line("};")
	e:line()
	e:line("/* 0. The image into the padded channels-last buffer. */")
	e:line("static void pad_slices(void *ctx, int s0, int s1)")
	e:open("{")
	e:line("const struct job *j = ctx;")
	e:line("pad_rows(j->img, j->p, slice_start(PAD_ITEMS, PAD_SLICES, s0),")
	e:line("         slice_start(PAD_ITEMS, PAD_SLICES, s1));")
	e:close("}")
	e:line()
	e:line("/* 1. Forward transform of every tile, LANES channels at a time,")
	e:line(" *    into the GEMM's A of every frequency. */")
	e:line("static void forward_slices(void *ctx, int s0, int s1)")
	e:open("{")
	e:line("const struct job *j = ctx;")
	e:line("vec *scratch = (vec *)(j->slots + (ptrdiff_t)s0 * SLOT);")
	e:line("const int end = slice_start(FWD_ITEMS, FWD_SLICES, s1);")
	e:open("for (int t = slice_start(FWD_ITEMS, FWD_SLICES, s0); t < end; t++) {")
	e:line("const int y0 = t / TILES_X * OUT_Y, x0 = t % TILES_X * OUT_X;")
	e:line("const float *base = j->p + ((ptrdiff_t)y0 * WP + x0) * CP;")
	e:line("float *xt = j->x + (ptrdiff_t)t * 2 * CP;")
	e:line("for (int c0 = 0; c0 < CP; c0 += LANES)")
	e.depth = e.depth + 1
	e:line("tile_forward((const vec *)(base + c0), WP * CP / LANES, CP / LANES,")
	e:line("             (vec *)(xt + c0), (vec *)(xt + CP + c0), XF / LANES, scratch);")
	e.depth = e.depth - 1
	e:close("}")
	e:close("}")
	e:line()
	e:line("/* 2. Per frequency, Z_f = X_f conj(W_f) summed over the channels:")
	if g.loop then
		e:line(" *    (TILES x 2CP)(2CP x 2KP) as a loop. */")
	else
		e:line(" *    (TILES x 2CP)(2CP x 2KP) with the generated GEMM (serial inside")
		e:line(" *    a phase that runs in parallel: its par_for is nested). */")
	end
	e:line("static void products_slices(void *ctx, int s0, int s1)")
	e:open("{")
	e:line("const struct job *j = ctx;")
	if g.loop then
		e:line("products(j->x, j->packed_w, j->z, slice_start(PROD_ITEMS, PROD_SLICES, s0),")
		e:line("         slice_start(PROD_ITEMS, PROD_SLICES, s1));")
	else
		e:line("float *packed_a = j->slots + (ptrdiff_t)s0 * SLOT;")
		e:line("const int end = slice_start(PROD_ITEMS, PROD_SLICES, s1);")
		e:line("for (int f = slice_start(PROD_ITEMS, PROD_SLICES, s0); f < end; f++)")
		e.depth = e.depth + 1
		e:line("gemm_run(j->x + f * XF, j->packed_w + (ptrdiff_t)f * PACKED_B, j->z + f * ZF,")
		e:line("         packed_a);")
		e.depth = e.depth - 1
	end
	e:close("}")
	e:line()
	e:line("/* 3. Inverse transform, crop, bias; LANES filters at a time. */")
	e:line("static void inverse_slices(void *ctx, int s0, int s1)")
	e:open("{")
	e:line("const struct job *j = ctx;")
	e:line("vec *scratch = (vec *)(j->slots + (ptrdiff_t)s0 * SLOT);")
	e:line("vec *rows = scratch + SCRATCH / LANES;")
	e:line("const int end = slice_start(INV_ITEMS, INV_SLICES, s1);")
	e:open("for (int i = slice_start(INV_ITEMS, INV_SLICES, s0); i < end; i++) {")
	e:line("const int t = i / (KP / LANES), k0 = i % (KP / LANES) * LANES;")
	e:line("const int ty = t / TILES_X, tx = t % TILES_X;")
	e:line("const int nr = HO - ty * OUT_Y < OUT_Y ? HO - ty * OUT_Y : OUT_Y;")
	e:line("const int nc = WO - tx * OUT_X < OUT_X ? WO - tx * OUT_X : OUT_X;")
	e:line("const float *zt = j->z + (ptrdiff_t)t * 2 * KP + k0;")
	e:line("tile_inverse((const vec *)zt, (const vec *)(zt + KP), ZF / LANES, rows, scratch);")
	e:open("for (int l = 0; l < LANES && k0 + l < K; l++) {")
	e:line("float *plane = j->out + (ptrdiff_t)(k0 + l) * HO * WO +")
	e:line("               (ptrdiff_t)ty * OUT_Y * WO + tx * OUT_X;")
	e:line("const float b = j->bias[k0 + l];")
	e:single("for (int y = 0; y < nr; y++)", "for (int x = 0; x < nc; x++)")
	e.depth = e.depth + 2
	e:line("plane[(ptrdiff_t)y * WO + x] = rows[y * FT + x][l] + b;")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("struct job j;")
	e:line("j.bias = align_up(state);")
	e:line("j.packed_w = align_up(j.bias + KP);")
	e:line("j.p = align_up(workspace);")
	e:line("j.x = align_up(j.p + PADDED);")
	e:line("j.z = align_up(j.x + FREQ * XF);")
	e:line("j.slots = align_up(j.z + FREQ * ZF);")
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("j.img = input + (ptrdiff_t)n * C * H * W;")
	e:line("j.out = output + (ptrdiff_t)n * K * HO * WO;")
	e:line("par_for(PAD_SLICES, PAD_WORK, pad_slices, &j);")
	e:line("par_for(FWD_SLICES, FWD_WORK, forward_slices, &j);")
	e:line("par_for(PROD_SLICES, PROD_WORK, products_slices, &j);")
	e:line("par_for(INV_SLICES, INV_WORK, inverse_slices, &j);")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

-- Shapes with few channels (C < LANES) ------------------------------------
--
-- With channels in the lanes, C = 3 leaves 5 of 8 lanes idle in the
-- forward transform and pads the product to CP = 8 channels (2.7x the
-- work); with C = K = 1, 7 of 8 lanes idle everywhere. So when C < LANES
-- the forward transform puts the rows of one tile (one channel) in the
-- lanes instead ("rows" layout), and the product uses the true C:
--   rows_forward: the T x T tile, LANES rows per vector (8x8 transposes of
--     its rows), T/8 real row transforms (r2c), transposed again so that
--     LANES column frequencies share a vector, then ceil(HALF/8) complex
--     column transforms; frequency (u, v) ends in lane v % 8 of vector
--     (v / 8) * T + u (SPEC = ceil(HALF/8) T vectors per re/im part).
-- Then, by the filters:
--   K >= LANES ("filters" inverse, the stem C3 K64): per LANES filters and
--     tile, Z_f = sum_c X_f,c conj W_f,kc with X broadcast and W a vector
--     of LANES filters, 4 FMAs per channel and frequency; the existing
--     filters-in-lanes inverse (tile_inverse) of that tile right away, so
--     Z never leaves L1/L2 (the GEMM path writes TILES x FREQ x 2KP floats,
--     22 MB for the stem, and reads them back strided);
--   K < LANES ("rows" inverse, e.g. C = K = 1): per filter and tile, the
--     product on the rows layout itself (vector = LANES column frequencies,
--     W stored the same way), then rows_inverse, the mirror image of
--     rows_forward, for the OUT_Y kept rows only.
-- The output is written through 8x8 transposes, whole vectors per row.
local function emit_lane_helpers(e)
	e:line("/* Two-vector shuffles: __builtin_shufflevector (clang, gcc >= 12),")
	e:line(" * else gcc's __builtin_shuffle with an index vector. */")
	e:line("#if defined(__clang__) || __GNUC__ >= 12")
	e:line("#define SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)")
	e:line("#else")
	e:line("typedef int ivec __attribute__((vector_size(%d)));", LANES * 4)
	e:line("#define SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (ivec){ __VA_ARGS__ })")
	e:line("#endif")
	e:line()
	e:line("/* 8 x 8 transpose: lane j of src[i * ss] to lane i of dst[j * ds].")
	e:line(" * Every load comes before any store (in place is allowed). */")
	e:line("static void transpose8(const vec *src, ptrdiff_t ss, vec *dst, ptrdiff_t ds)")
	e:open("{")
	e:line("const vec r0 = src[0], r1 = src[ss], r2 = src[2 * ss], r3 = src[3 * ss];")
	e:line("const vec r4 = src[4 * ss], r5 = src[5 * ss], r6 = src[6 * ss], r7 = src[7 * ss];")
	e:line("/* Interleave pairs of rows, then pairs of pairs, then halves. */")
	for p = 0, 3 do
		e:line("const vec t%d = SHUFFLE(r%d, r%d, 0, 8, 1, 9, 4, 12, 5, 13);", 2 * p, 2 * p, 2 * p + 1)
		e:line("const vec t%d = SHUFFLE(r%d, r%d, 2, 10, 3, 11, 6, 14, 7, 15);", 2 * p + 1, 2 * p, 2 * p + 1)
	end
	for h = 0, 1 do
		local a, b = 4 * h, 4 * h + 2
		e:line("const vec u%d = SHUFFLE(t%d, t%d, 0, 1, 8, 9, 4, 5, 12, 13);", a, a, b)
		e:line("const vec u%d = SHUFFLE(t%d, t%d, 2, 3, 10, 11, 6, 7, 14, 15);", a + 1, a, b)
		e:line("const vec u%d = SHUFFLE(t%d, t%d, 0, 1, 8, 9, 4, 5, 12, 13);", a + 2, a + 1, b + 1)
		e:line("const vec u%d = SHUFFLE(t%d, t%d, 2, 3, 10, 11, 6, 7, 14, 15);", a + 3, a + 1, b + 1)
	end
	for j = 0, 3 do
		e:line("dst[%s] = SHUFFLE(u%d, u%d, 0, 1, 2, 3, 8, 9, 10, 11);",
			j == 0 and "0" or (j == 1 and "ds" or j .. " * ds"), j, j + 4)
	end
	for j = 0, 3 do
		e:line("dst[%d * ds] = SHUFFLE(u%d, u%d, 4, 5, 6, 7, 12, 13, 14, 15);", j + 4, j, j + 4)
	end
	e:close("}")
	e:line()
	e:line("/* Column j0 of a run of nc outputs for a vector store: the vectors at")
	e:line(" * j = 0, LANES, 2 LANES, ... and, when nc is not a multiple of LANES,")
	e:line(" * the last one overlapping its neighbour, so that every store is a")
	e:line(" * whole vector (nc < LANES: a partial store, see store_part). */")
	e:line("static int store_col(int j, int nc)")
	e:open("{")
	e:line("return j + LANES <= nc || nc < LANES ? j : nc - LANES;")
	e:close("}")
	e:line()
	e:line("/* The first min(n, LANES) floats of *v to dst, any alignment (v by")
	e:line(" * address: a vector argument's ABI depends on -mavx). */")
	e:line("static void store_part(float *dst, const vec *v, int n)")
	e:open("{")
	e:open("if (n >= LANES) {")
	e:line("memcpy(dst, v, sizeof *v);")
	e:line("return;")
	e:close("}")
	e:line("/* Only outputs narrower than a vector get here. */")
	e:single("for (int m = 0; m < n && m < LANES; m++)", "dst[m] = (*v)[m];")
	e:close("}")
	e:line()
end

local function emit_rows_forward(e)
	e:line("/* Forward 2-D transform of one T x T tile of one channel, rows in the")
	e:line(" * lanes: element (i, j) at src[i * rs + j] (any alignment); frequency")
	e:line(" * (u, v) to lane v % LANES of xr/xi[v / LANES * FT + u] (SPEC vectors")
	e:line(" * each; the lanes of v >= HALF hold zeros). scratch: ROWS_SCRATCH")
	e:line(" * vectors.")
	e:line(" * Out of line (noinline), so that it holds the one inlined copy of")
	e:line(" * its codelets: inlined into its callers it calls them per row and")
	e:line(" * column instead (callgrind, C16 H64 K16 T32: 5% more instructions). */")
	e:line("__attribute__((noinline))")
	e:line("static void rows_forward(const float *src, ptrdiff_t rs, vec *xr, vec *xi,")
	e:line("                         vec *scratch)")
	e:open("{")
	e:line("/* a: lane l of a[b * FT + j] is element (LANES b + l, j). */")
	e:line("vec *a = scratch;")
	e:line("/* Row spectra: lane l of tr/ti[v * NB + b] is frequency v of row")
	e:line(" * LANES b + l; NVB * LANES of them, those past HALF zero. */")
	e:line("vec *tr = a + NB * FT, *ti = tr + NVB * LANES * NB;")
	e:open("for (int b = 0; b < NB; b++) {")
	e:open("for (int j0 = 0; j0 < FT; j0 += LANES) {")
	e:line("vec r[LANES];")
	e:single("for (int l = 0; l < LANES; l++)",
		"memcpy(&r[l], src + (ptrdiff_t)(LANES * b + l) * rs + j0, sizeof(vec));")
	e:line("transpose8(r, 1, a + b * FT + j0, 1);")
	e:close("}")
	e:line("fft_r2c(a + b * FT, 1, tr + b, ti + b, NB);")
	e:close("}")
	e:line("memset(tr + HALF * NB, 0, (NVB * LANES - HALF) * NB * sizeof(vec));")
	e:line("memset(ti + HALF * NB, 0, (NVB * LANES - HALF) * NB * sizeof(vec));")
	e:open("for (int vb = 0; vb < NVB; vb++) {")
	e:open("for (int b = 0; b < NB; b++) {")
	e:line("transpose8(tr + vb * LANES * NB + b, NB, xr + vb * FT + b * LANES, 1);")
	e:line("transpose8(ti + vb * LANES * NB + b, NB, xi + vb * FT + b * LANES, 1);")
	e:close("}")
	e:line("fft_fwd(xr + vb * FT, xi + vb * FT, 1, xr + vb * FT, xi + vb * FT, 1);")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_rows_inverse(e)
	e:line("/* Inverse (unnormalized) of rows_forward for the rows overlap-save")
	e:line(" * keeps: the spectrum zr/zi (laid out as rows_forward writes it; used")
	e:line(" * as scratch) to lane l of y[b * FT + j] = element (LANES b + l, j),")
	e:line(" * b < NBO. scratch: ROWS_SCRATCH vectors.")
	e:line(" * Out of line (noinline), so that it holds the one inlined copy of")
	e:line(" * its codelets: inlined into its callers it calls them per row and")
	e:line(" * column instead (callgrind, C16 H64 K16 T32: 5% more instructions). */")
	e:line("__attribute__((noinline))")
	e:line("static void rows_inverse(vec *zr, vec *zi, vec *y, vec *scratch)")
	e:open("{")
	e:line("vec *tr = scratch, *ti = tr + NVB * LANES * NBO;")
	e:open("for (int vb = 0; vb < NVB; vb++) {")
	e:line("fft_inv(zr + vb * FT, zi + vb * FT, 1, zr + vb * FT, zi + vb * FT, 1);")
	e:open("for (int b = 0; b < NBO; b++) {")
	e:line("transpose8(zr + vb * FT + b * LANES, 1, tr + vb * LANES * NBO + b, NBO);")
	e:line("transpose8(zi + vb * FT + b * LANES, 1, ti + vb * LANES * NBO + b, NBO);")
	e:close("}")
	e:close("}")
	e:single("for (int b = 0; b < NBO; b++)",
		"fft_c2r(tr + b, ti + b, NBO, y + b * FT, 1);")
	e:close("}")
	e:line()
end

local function emit_pad_planar(e)
	e:line("/* Rows [r0, r1) of the padded buffer, one HP x WP plane per channel")
	e:line(" * (row r: channel r / HP, row r %% HP of its plane): the image times")
	e:line(" * 1/T^2, zeros around it (one memset for all the rows: one call on")
	e:line(" * one thread, as many small ones cost). */")
	e:line("static void pad_rows(const float *restrict img, float *restrict p, int r0, int r1)")
	e:open("{")
	e:line("memset(p + (ptrdiff_t)r0 * WP, 0, (size_t)(r1 - r0) * WP * sizeof(float));")
	e:open("for (int r = r0; r < r1; r++) {")
	e:line("const int c = r / HP, y = r % HP - PAD_H;")
	e:line("float *row = p + (ptrdiff_t)r * WP;")
	e:single("if (y < 0 || y >= H)", "continue;")
	e:line("const float *src = img + ((ptrdiff_t)c * H + y) * W;")
	e:single("for (int x = 0; x < W; x++)", "row[PAD_W + x] = INV_AREA * src[x];")
	e:close("}")
	e:close("}")
	e:line()
end

-- K >= LANES: product of one tile for LANES filters, into the layout of
-- tile_inverse; and the store of its result.
local function emit_filters_helpers(e)
	e:line("/* Z_f = sum_c X_f,c conj(W_f,c) for one tile and LANES filters, every")
	e:line(" * frequency f: x holds per frequency C pairs (Re X, Im X), each value")
	e:line(" * broadcast (read in order: one stream); w per frequency C pairs (Re W,")
	e:line(" * Im W), vectors of LANES filters. z: per frequency Re Z, Im Z. */")
	e:line("static void product_filters(const float *restrict x, const vec *restrict w,")
	e:line("                            vec *restrict z)")
	e:open("{")
	e:open("for (int f = 0; f < FREQ; f++) {")
	e:line("const float *xf = x + (ptrdiff_t)f * 2 * C;")
	e:line("const vec *wf = w + (ptrdiff_t)f * 2 * C;")
	e:line("vec ar = (vec){ 0 }, ai = (vec){ 0 };")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("/* scalar - zero vector: a clean broadcast (see PERF-NOTES). */")
	e:line("const vec xr = xf[2 * c] - (vec){ 0 }, xi = xf[2 * c + 1] - (vec){ 0 };")
	e:line("ar += xr * wf[2 * c] + xi * wf[2 * c + 1];")
	e:line("ai += xi * wf[2 * c] - xr * wf[2 * c + 1];")
	e:close("}")
	e:line("z[2 * f] = ar;")
	e:line("z[2 * f + 1] = ai;")
	e:close("}")
	e:close("}")
	e:line()
	e:line("/* A tile's spectrum of channel c as rows_forward writes it (sr, si) to")
	e:line(" * the layout of product_filters: frequency f = u * HALF + v at")
	e:line(" * x[f * 2 * C + 2 * c] (real part) and the next float. */")
	e:line("static void spread_channel(const vec *sr, const vec *si, int c, float *x)")
	e:open("{")
	e:open("for (int u = 0; u < FT; u++) {")
	e:open("for (int v = 0; v < HALF; v++) {")
	e:line("float *xf = x + (ptrdiff_t)(u * HALF + v) * 2 * C + 2 * c;")
	e:line("xf[0] = sr[v / LANES * FT + u][v % LANES];")
	e:line("xf[1] = si[v / LANES * FT + u][v % LANES];")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
	e:line("/* The kept nr x nc outputs of LANES filters (lane l of rows[i * FT + j]:")
	e:line(" * filter k0 + l, row i, column j) plus the bias, into the NCHW planes")
	e:line(" * (out: filter k0's plane at the tile's first output). Through buf")
	e:line(" * (LANES planes of OUT_Y x FT floats), so that the output is written")
	e:line(" * one plane after the other: the planes lie a multiple of 4 KiB apart")
	e:line(" * (HO * WO * 4 bytes), and rows of 8 planes in turn would share L1")
	e:line(" * sets (measured on the stem: the store took half the time). */")
	e:line("static void store_filters(const vec *rows, int k0, int nr, int nc,")
	e:line("                          const float *bias, float *out, float *buf)")
	e:open("{")
	e:line("const int nk = K - k0 < LANES ? K - k0 : LANES;")
	e:line("vec b;")
	e:single("for (int l = 0; l < LANES; l++)", "b[l] = l < nk ? bias[k0 + l] : 0;")
	e:open("for (int i = 0; i < nr; i++) {")
	e:open("for (int j = 0; j < nc; j += LANES) {")
	e:line("const int j0 = store_col(j, nc);")
	e:line("vec t[LANES];")
	e:line("transpose8(rows + i * FT + j0, 1, t, 1);")
	e:single("for (int l = 0; l < nk; l++)",
		"memcpy(buf + ((ptrdiff_t)l * OUT_Y + i) * FT + j0, &t[l], sizeof(vec));")
	e:close("}")
	e:close("}")
	e:open("for (int l = 0; l < nk; l++) {")
	e:line("const vec bl = b[l] - (vec){ 0 };")
	e:open("for (int i = 0; i < nr; i++) {")
	e:line("const float *src = buf + ((ptrdiff_t)l * OUT_Y + i) * FT;")
	e:line("float *dst = out + (ptrdiff_t)l * HO * WO + (ptrdiff_t)i * WO;")
	e:open("for (int j = 0; j < nc; j += LANES) {")
	e:line("const int j0 = store_col(j, nc);")
	e:line("vec v;")
	e:line("memcpy(&v, src + j0, sizeof v);")
	e:line("v += bl;")
	e:line("store_part(dst + j0, &v, nc - j0);")
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

-- K < LANES: product in the rows layout and the store of rows_inverse's result.
local function emit_rows_helpers(e)
	e:line("/* Z = sum_c X_c conj(W_kc) for one tile and one filter, in the layout")
	e:line(" * of rows_forward (vectors of LANES column frequencies): x and wk hold")
	e:line(" * C channels of 2 SPEC vectors (real parts, then imaginary). */")
	e:line("static void product_rows(const vec *restrict x, const vec *restrict wk,")
	e:line("                         vec *restrict zr, vec *restrict zi)")
	e:open("{")
	e:open("for (int s = 0; s < SPEC; s++) {")
	e:line("vec ar = (vec){ 0 }, ai = (vec){ 0 };")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("const vec xr = x[c * 2 * SPEC + s], xi = x[c * 2 * SPEC + SPEC + s];")
	e:line("const vec wr = wk[c * 2 * SPEC + s], wi = wk[c * 2 * SPEC + SPEC + s];")
	e:line("ar += xr * wr + xi * wi;")
	e:line("ai += xi * wr - xr * wi;")
	e:close("}")
	e:line("zr[s] = ar;")
	e:line("zi[s] = ai;")
	e:close("}")
	e:close("}")
	e:line()
	e:line("/* The kept nr x nc outputs of one filter (lane l of y[b * FT + j]: row")
	e:line(" * LANES b + l, column j) plus the bias, into its plane (out: at the")
	e:line(" * tile's first output). */")
	e:line("static void store_rows(const vec *y, int nr, int nc, float bias, float *out)")
	e:open("{")
	e:open("for (int b = 0; b * LANES < nr; b++) {")
	e:open("for (int j = 0; j < nc; j += LANES) {")
	e:line("const int j0 = store_col(j, nc);")
	e:line("vec t[LANES];")
	e:line("transpose8(y + b * FT + j0, 1, t, 1);")
	e:open("for (int l = 0; l < LANES && b * LANES + l < nr; l++) {")
	e:line("t[l] += bias;")
	e:line("store_part(out + (ptrdiff_t)(b * LANES + l) * WO + j0, &t[l], nc - j0);")
	e:close("}")
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_lane_constants(e, g)
	e:line("/* Rows in the lanes (C < LANES): NB blocks of LANES rows per tile,")
	e:line(" * NBO of them hold the OUT_Y kept rows; NVB vectors of LANES column")
	e:line(" * frequencies cover the HALF of a row; SPEC vectors per re/im part of")
	e:line(" * a tile's spectrum. */")
	e:line("enum { NB = FT / LANES, NBO = %d, NVB = %d, SPEC = NVB * FT };",
		ceil_div(g.out_y, LANES), ceil_div(g.half, LANES))
	e:line()
	if g.inv == "filters" then
		e:line("/* Floats: a tile's spectra (C complex values per frequency), the")
		e:line(" * padded input (a plane per channel); vectors: rows_forward's")
		e:line(" * scratch. */")
		e:line("static const ptrdiff_t XT = (ptrdiff_t)FREQ * 2 * C;")
	else
		e:line("/* Vectors: a tile's spectra (C channels of 2 SPEC), rows_forward's")
		e:line(" * and rows_inverse's scratch; floats: the padded input (a plane per")
		e:line(" * channel). */")
		e:line("static const ptrdiff_t XT = (ptrdiff_t)C * 2 * SPEC;")
	end
	e:line("static const ptrdiff_t PADDED = (ptrdiff_t)C * HP * WP;")
	e:line("enum { ROWS_SCRATCH = NB * FT + 2 * NVB * LANES * NB };")
	if g.inv == "filters" then
		e:line("/* tile_inverse's scratch, vectors; its kept rows. */")
		e:line("enum { INV_SCRATCH = 2 * FT * HALF, ROWS_OUT = OUT_Y * FT };")
		e:line("/* The weights' spectra: per LANES filters, per frequency, C pairs")
		e:line(" * (Re W, Im W) of vectors of LANES filters. */")
		e:line("static const ptrdiff_t WSPEC = (ptrdiff_t)(KP / LANES) * FREQ * 2 * C;")
	else
		e:line("/* The weights' spectra: per filter and channel 2 SPEC vectors, as")
		e:line(" * rows_forward writes them. */")
		e:line("static const ptrdiff_t WSPEC = (ptrdiff_t)K * C * 2 * SPEC;")
	end
	e:line()
	e:line("/* The one normalization of the method, 1/T^2 = 2^-%d, exact: applied", 2 * g.lg)
	e:line(" * to the input as it is padded, where it keeps every transform")
	e:line(" * value within the data's own range (fp16/bf16 safe; see the")
	e:line(" * template's header, templates/conv_fft.lua). */")
	e:line("static const float INV_AREA = 0x1p-%df;", 2 * g.lg)
	e:line()
	e:line("enum { ALIGN = %d };   /* floats in 64 bytes */", gemm.ALIGN_FLOATS)
	e:line()
	e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
	e:line(" * mode its default is -ffp-contract=off (clang contracts by default). */")
	e:line("#if defined(__GNUC__) && !defined(__clang__)")
	e:line('#pragma GCC optimize("fp-contract=fast")')
	e:line("#endif")
	e:line()
end

local function emit_lane_state(e, g)
	local filters = g.inv == "filters"
	kernel.align_up(e)
	e:line("/* State: the bias (KP values), then the weights' spectra (WSPEC")
	e:line(" * vectors). */")
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (size_t)KP * sizeof(float) + (size_t)WSPEC * sizeof(vec) +")
	e:line("       2 * ALIGN * sizeof(float);")
	e:close("}")
	e:line()
	e:line("/* The weights' transform, once per weights: each filter and channel")
	e:line(" * zero-padded to T x T (not flipped: Z = X conj W is the correlation)")
	e:line(" * through rows_forward, " ..
		(filters and "then spread to vectors of LANES filters" or "kept as it is") .. ". */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("float *b = align_up(state);")
	e:line("vec *w = (vec *)align_up(b + KP);")
	e:line("const size_t floats = (size_t)FT * FT + (2 * SPEC + ROWS_SCRATCH) * LANES;")
	e:line("float *tile = aligned_alloc(64, (floats + ALIGN - 1) / ALIGN * ALIGN * sizeof(float));")
	e:line("(void)d;")
	e:single("if (!tile)", "return DP_ERR_NOMEM;")
	e:line("vec *sr = (vec *)(tile + FT * FT), *si = sr + SPEC, *scratch = si + SPEC;")
	if filters then
		e:line("memset(w, 0, (size_t)WSPEC * sizeof(vec));   /* filters past K */")
	end
	e:open("for (int k = 0; k < K; k++) {")
	e:open("for (int c = 0; c < C; c++) {")
	e:line("memset(tile, 0, (size_t)FT * FT * sizeof(float));")
	e:single("for (int i = 0; i < R; i++)", "for (int j = 0; j < S; j++)")
	e.depth = e.depth + 2
	e:line("tile[i * FT + j] = weights[(((ptrdiff_t)k * C + c) * R + i) * S + j];")
	e.depth = e.depth - 2
	e:line("rows_forward(tile, FT, sr, si, scratch);")
	if filters then
		e:open("for (int u = 0; u < FT; u++) {")
		e:open("for (int v = 0; v < HALF; v++) {")
		e:line("vec *m = w + ((ptrdiff_t)(k / LANES * FREQ + u * HALF + v) * C + c) * 2;")
		e:line("m[0][k % LANES] = sr[v / LANES * FT + u][v % LANES];")
		e:line("m[1][k % LANES] = si[v / LANES * FT + u][v % LANES];")
		e:close("}")
		e:close("}")
	else
		e:line("vec *m = w + ((ptrdiff_t)k * C + c) * 2 * SPEC;")
		e:line("memcpy(m, sr, SPEC * sizeof(vec));")
		e:line("memcpy(m + SPEC, si, SPEC * sizeof(vec));")
	end
	e:close("}")
	e:close("}")
	e:line("free(tile);")
	e:line("memset(b, 0, KP * sizeof(float));")
	e:single("if (bias)", "memcpy(b, bias, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("/* Workspace, each part from a 64-byte boundary: the padded input, %s",
		filters and "the" or "and")
	e:line(" * %sa slot of scratch per slice of a phase (SLOTS of SLOT vectors). */",
		filters and "spectra of every tile, and " or "")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	if filters then
		e:line("return (size_t)(PADDED + TILES * XT + 3 * ALIGN) * sizeof(float) +")
	else
		e:line("return (size_t)(PADDED + 2 * ALIGN) * sizeof(float) +")
	end
	e:line("       (size_t)SLOTS * SLOT * sizeof(vec);")
	e:close("}")
	e:line()
end

-- The phases of the rows layouts and the scratch of a slice (see
-- "Threads" in the header).
local function emit_lane_threads(e, d, g)
	local ops = fft.op_counts(g.t)
	local nb, nbo, nvb = g.t // LANES, ceil_div(g.out_y, LANES), ceil_div(g.half, LANES)
	local spec = nvb * g.t
	local rows_fwd = LANES * (nb * ops.r2c + nvb * ops.fwd)
	local pad = { name = "PAD", items = "C * HP", what = "rows of the padded planes",
		work = d.c * g.hp * g.wp, how = "C HP WP" }
	if g.inv == "filters" then
		local kg = g.kp // LANES
		emit_phases(e, { pad,
			{ name = "FWD", items = "TILES", what = "tiles (all C channels of one)",
				work = g.tiles * d.c * rows_fwd,
				how = "TILES C LANES (NB r2c + NVB fwd)" },
			{ name = "OUT", items = "TILES_Y * (KP / LANES)",
				what = "rows of tiles by LANES filters, row-major",
				work = g.tiles * kg * LANES * (8 * g.freq * d.c + g.half * ops.inv +
					g.out_y * ops.c2r) + d.k * d.ho * d.wo,
				how = "TILES KP (8 FREQ C + HALF inv + OUT_Y c2r) + K HO WO" },
		}, ops)
		e:line("/* A slot of scratch, vectors (whole 64-byte lines): in the")
		e:line(" * forward phase a spectrum as rows_forward writes it (2 SPEC) and")
		e:line(" * its scratch; in the output phase the products of a tile (2 FREQ),")
		e:line(" * the kept rows of its inverse, store_filters' staging and")
		e:line(" * tile_inverse's scratch, the larger. A call of either phase takes")
		e:line(" * one; SLOTS at most. */")
		local fwd_slot = 2 * spec + nb * g.t + 2 * nvb * LANES * nb
		local out_slot = 2 * g.freq + 2 * g.out_y * g.t + 2 * g.t * g.half
		assert(out_slot >= fwd_slot)
		e:line("enum { SLOT = 2 * FREQ + 2 * ROWS_OUT + INV_SCRATCH,")
		e:line("       SLOTS = FWD_SLICES > OUT_SLICES ? FWD_SLICES : OUT_SLICES };")
	else
		emit_phases(e, { pad,
			{ name = "TILE", items = "TILES", what = "tiles",
				work = g.tiles * (d.c * rows_fwd + d.k * (8 * spec * d.c * LANES +
					LANES * (nvb * ops.inv + nbo * ops.c2r))) + d.k * d.ho * d.wo,
				how = "TILES (C LANES (NB r2c + NVB fwd) + K LANES (8 SPEC C + NVB inv + NBO c2r)) + K HO WO" },
		}, ops)
		e:line("/* A slot of scratch, vectors (whole 64-byte lines): the spectra of a")
		e:line(" * tile (XT), its product with one filter (2 SPEC), the kept rows of")
		e:line(" * its inverse (NBO FT) and the transforms' scratch. A call takes")
		e:line(" * one; SLOTS at most. */")
		e:line("enum { SLOT = C * 2 * SPEC + 2 * SPEC + NBO * FT + ROWS_SCRATCH,")
		e:line("       SLOTS = TILE_SLICES };")
	end
	e:line()
end

local function emit_lane_execute(e, g)
	local filters = g.inv == "filters"
	e:line("/* What the phases of one image share. */")
	e:line("struct job {")
	e:line("\tconst float *img, *bias;")
	e:line("\tconst vec *w;")
	e:line("\tfloat *p, *%sout;", filters and "x, *" or "")
	e:line("\tvec *slots;")
	e:line("};")
	e:line()
	e:line("/* 0. The image into the padded planes. */")
	e:line("static void pad_slices(void *ctx, int s0, int s1)")
	e:open("{")
	e:line("const struct job *j = ctx;")
	e:line("pad_rows(j->img, j->p, slice_start(PAD_ITEMS, PAD_SLICES, s0),")
	e:line("         slice_start(PAD_ITEMS, PAD_SLICES, s1));")
	e:close("}")
	e:line()
	if filters then
		e:line("/* 1. Forward transform of every tile and channel, rows in the lanes,")
		e:line(" *    spread to one run of C complex values per frequency. */")
		e:line("static void forward_slices(void *ctx, int s0, int s1)")
		e:open("{")
		e:line("const struct job *j = ctx;")
		e:line("vec *spec = j->slots + (ptrdiff_t)s0 * SLOT, *scratch = spec + 2 * SPEC;")
		e:line("const int end = slice_start(FWD_ITEMS, FWD_SLICES, s1);")
		e:open("for (int t = slice_start(FWD_ITEMS, FWD_SLICES, s0); t < end; t++) {")
		e:line("const int y0 = t / TILES_X * OUT_Y, x0 = t % TILES_X * OUT_X;")
		e:open("for (int c = 0; c < C; c++) {")
		e:line("rows_forward(j->p + ((ptrdiff_t)c * HP + y0) * WP + x0, WP, spec,")
		e:line("             spec + SPEC, scratch);")
		e:line("spread_channel(spec, spec + SPEC, c, j->x + t * XT);")
		e:close("}")
		e:close("}")
		e:close("}")
		e:line()
		e:line("/* 2. Per row of tiles, LANES filters and tile: the products (the true")
		e:line(" *    C channels), the inverse, filters in the lanes, crop and bias.")
		e:line(" *    LANES filters' spectra stay in cache across the row of tiles,")
		e:line(" *    and each filter's outputs of the row are one block of memory")
		e:line(" *    (measured on the stem, noisy machine: 7 to 11 ms against 13 to")
		e:line(" *    15 ms for all tiles per LANES filters, which evicts them). */")
		e:line("static void output_slices(void *ctx, int s0, int s1)")
		e:open("{")
		e:line("const struct job *j = ctx;")
		e:line("vec *z = j->slots + (ptrdiff_t)s0 * SLOT, *rows = z + 2 * FREQ;")
		e:line("vec *buf = rows + ROWS_OUT, *scratch = buf + ROWS_OUT;")
		e:line("const int end = slice_start(OUT_ITEMS, OUT_SLICES, s1);")
		e:open("for (int i = slice_start(OUT_ITEMS, OUT_SLICES, s0); i < end; i++) {")
		e:line("const int ty = i / (KP / LANES), k0 = i % (KP / LANES) * LANES;")
		e:line("const int nr = HO - ty * OUT_Y < OUT_Y ? HO - ty * OUT_Y : OUT_Y;")
		e:open("for (int tx = 0; tx < TILES_X; tx++) {")
		e:line("const int t = ty * TILES_X + tx;")
		e:line("const int nc = WO - tx * OUT_X < OUT_X ? WO - tx * OUT_X : OUT_X;")
		e:line("product_filters(j->x + t * XT, j->w + (ptrdiff_t)k0 / LANES * FREQ * 2 * C, z);")
		e:line("tile_inverse(z, z + 1, 2, rows, scratch);")
		e:line("store_filters(rows, k0, nr, nc, j->bias, j->out + (ptrdiff_t)k0 * HO * WO +")
		e:line("              (ptrdiff_t)ty * OUT_Y * WO + tx * OUT_X, (float *)buf);")
		e:close("}")
		e:close("}")
		e:close("}")
	else
		e:line("/* Per tile: the forward transform of each channel, then per filter")
		e:line(" * the product, the inverse, crop and bias; rows in the lanes. */")
		e:line("static void tile_slices(void *ctx, int s0, int s1)")
		e:open("{")
		e:line("const struct job *j = ctx;")
		e:line("vec *x = j->slots + (ptrdiff_t)s0 * SLOT, *zr = x + XT, *zi = zr + SPEC;")
		e:line("vec *y = zi + SPEC, *scratch = y + NBO * FT;")
		e:line("const int end = slice_start(TILE_ITEMS, TILE_SLICES, s1);")
		e:open("for (int t = slice_start(TILE_ITEMS, TILE_SLICES, s0); t < end; t++) {")
		e:line("const int ty = t / TILES_X, tx = t % TILES_X;")
		e:line("const int nr = HO - ty * OUT_Y < OUT_Y ? HO - ty * OUT_Y : OUT_Y;")
		e:line("const int nc = WO - tx * OUT_X < OUT_X ? WO - tx * OUT_X : OUT_X;")
		e:line("for (int c = 0; c < C; c++)")
		e.depth = e.depth + 1
		e:line("rows_forward(j->p + ((ptrdiff_t)c * HP + ty * OUT_Y) * WP + tx * OUT_X, WP,")
		e:line("             x + c * 2 * SPEC, x + (c * 2 + 1) * SPEC, scratch);")
		e.depth = e.depth - 1
		e:open("for (int k = 0; k < K; k++) {")
		e:line("product_rows(x, j->w + (ptrdiff_t)k * C * 2 * SPEC, zr, zi);")
		e:line("rows_inverse(zr, zi, y, scratch);")
		e:line("store_rows(y, nr, nc, j->bias[k], j->out + (ptrdiff_t)k * HO * WO +")
		e:line("           (ptrdiff_t)ty * OUT_Y * WO + tx * OUT_X);")
		e:close("}")
		e:close("}")
		e:close("}")
	end
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("struct job j;")
	e:line("j.bias = align_up(state);")
	e:line("j.w = (const vec *)align_up(j.bias + KP);")
	e:line("j.p = align_up(workspace);")
	if filters then
		e:line("j.x = align_up(j.p + PADDED);")
		e:line("j.slots = (vec *)align_up(j.x + TILES * XT);")
	else
		e:line("j.slots = (vec *)align_up(j.p + PADDED);")
	end
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("j.img = input + (ptrdiff_t)n * C * H * W;")
	e:line("j.out = output + (ptrdiff_t)n * K * HO * WO;")
	e:line("par_for(PAD_SLICES, PAD_WORK, pad_slices, &j);")
	if filters then
		e:line("par_for(FWD_SLICES, FWD_WORK, forward_slices, &j);")
		e:line("par_for(OUT_SLICES, OUT_WORK, output_slices, &j);")
	else
		e:line("par_for(TILE_SLICES, TILE_WORK, tile_slices, &j);")
	end
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
	local how
	if g.fwd == "channels" then
		how = {
			string.format("%d x %d outputs per tile, %d tiles; per frequency one real GEMM", g.out_y,
				g.out_x, g.tiles),
			"[Re Z | Im Z] = [Re X | Im X] [Re W, -Im W; Im W, Re W] = X conj(W)",
			"(" .. (g.loop and "a plain loop: few channels and filters" or "the generated GEMM") .. "),",
			"the complex product summed over channels. The input is scaled by",
			"1/T^2 when it is padded: the one normalization (templates/conv_fft.lua",
			"explains why there).",
		}
	elseif g.inv == "filters" then
		how = {
			string.format("%d x %d outputs per tile, %d tiles. Fewer channels than lanes: the", g.out_y,
				g.out_x, g.tiles),
			"forward transform has rows of a tile in the lanes; per tile and 8",
			"filters, Z = sum_c X_c conj(W_c) over the true C channels, then the",
			"inverse with filters in the lanes.",
		}
	else
		how = {
			string.format("%d x %d outputs per tile, %d tiles. Fewer channels and filters than", g.out_y,
				g.out_x, g.tiles),
			"lanes: both transforms have rows of a tile in the lanes; per tile and",
			"filter, Z = sum_c X_c conj(W_c) on 8 frequencies at a time.",
		}
	end
	local lines = { string.format("Overlap-save FFT cross-correlation: %d x %d real transforms,", g.t, g.t) }
	for _, l in ipairs(how) do lines[#lines + 1] = l end
	if g.fwd == "rows" then
		lines[#lines + 1] = "The input is scaled by 1/T^2 when it is padded: the one"
		lines[#lines + 1] = "normalization (templates/conv_fft.lua explains why there)."
	end
	e:comment(lines)
	e:line()
	emit_constants(e, d, g)
	if g.fwd == "rows" then
		emit_lane_constants(e, g)
		fft.emit(e, { t = g.t, ty = "vec", prefix = "fft" })
		emit_lane_helpers(e)
		emit_rows_forward(e)
		emit_pad_planar(e)
		if g.inv == "filters" then
			emit_tile_inverse(e)
			emit_filters_helpers(e)
		else
			emit_rows_inverse(e)
			emit_rows_helpers(e)
		end
		emit_lane_threads(e, d, g)
		emit_lane_state(e, g)
		emit_lane_execute(e, g)
		kernel.object(e, d, name)
		return e:text()
	end
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
	emit_channel_threads(e, d, g, g.loop and 0 or gemm.workspace_floats(spec))
	emit_state(e, g)
	emit_execute(e, g)
	kernel.object(e, d, name)
	return e:text()
end

return M
