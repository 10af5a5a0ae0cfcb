-- conv_emul_winograd.lua - Winograd F(m x m, r x r) convolution at an
-- emulated precision (every precision but fp32), for one shape.
--
-- The matrices are those of the fp32 kernel, from lib/cooktoom.lua in
-- exact rationals (AT, G, BT). Per docs/PRECISION.md:
--   prepare:  U = G w G^T of the stored weights, [xi][k][c];
--   execute:  V = BT d BT^T of every tile of the stored input, [t][xi][c];
--             M_xi = sum over c of U_xi V_xi, the channels pairwise;
--             Y = AT M AT^T, y = Y + bias, cropped to the output.
-- The 1-D transforms are unrolled with the constants folded, each output
-- a sequential sum of its terms in column order. Policy all rounds every
-- add and multiply they perform, with the constants stored in the format
-- (so transformed operands are stored values); acc32 computes a 2-D
-- transform in fp32 with fp32 constants and rounds each element of U and
-- V once, keeps M and the output transform in fp32 and rounds the output.
-- fp64 does everything in double. int8/int16 quantize the input and
-- weights, transform the values q s in double, quantize U and V again
-- with their own per-tensor scales (V: the whole batch) and sum the
-- products exactly in int64. This is the runtime emulation's arithmetic
-- (runtime/emul_conv.c): the two agree except, possibly, for the sign of
-- a zero, since the terms with a zero coefficient are left out here.
--
-- Scalar code: these kernels exist for their arithmetic, not their speed.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local emul = require("lib.emul")
local round = require("lib.round")
local Q = require("lib.rational")
local CT = require("lib.cooktoom")

local M = {}

local function points_of(d, alpha)
	if d.points == nil or d.points == "" then
		return CT.default_points(alpha - 1)
	end
	local pts = {}
	for s in d.points:gmatch("[^,]+") do pts[#pts + 1] = s end
	return pts
end

-- A C literal of a rational coefficient in the transforms' type; under
-- policy all (fmt given) the nearest float rounded to the format, as a
-- format's transform stores its constants.
local function literal(c, ty, fmt)
	if fmt then return round.literal(fmt, Q.to_number(c)) end
	if ty == "float" then return Q.to_c_literal(c) end
	if Q.isinteger(c) then return string.format("%d.0", Q.to_number(c)) end
	local s = string.format("%.17g", Q.to_number(c))
	if not s:find("[%.e]") then s = s .. ".0" end
	return s
end

local function stride_index(i, stride)
	if i == 0 then return "0" end
	if i == 1 then return stride end
	return string.format("%d * %s", i, stride)
end

-- static void fname(x, xs, y, ys): y = A x, straight-line, the terms of
-- each row in column order. `rounded`: every multiply and add through
-- the arithmetic a (policy all); else one plain expression per row.
local function emit_linear(e, fname, A, what, a, ty, rounded)
	local nrows, ncols = #A, #A[1]
	local zero = ty == "float" and "0.0f" or "0.0"
	e:line("/* %s */", what)
	e:line("static void %s(const %s *restrict x, ptrdiff_t xs,", fname, ty)
	e:line("%s%s *restrict y, ptrdiff_t ys)",
		string.rep(" ", #("static void " .. fname .. "(")), ty)
	e:open("{")
	local used, long = {}, false
	for _, row in ipairs(A) do
		local n = 0
		for k = 1, ncols do
			if not Q.iszero(row[k]) then used[k], n = true, n + 1 end
		end
		if n > 2 then long = true end
	end
	local strided = false
	for k = 2, ncols do strided = strided or used[k] end
	if not strided then e:line("(void)xs;") end
	if nrows == 1 then e:line("(void)ys;") end
	local loads = {}
	for k = 1, ncols do
		if used[k] then
			loads[#loads + 1] = string.format("x%d = x[%s]", k - 1,
				stride_index(k - 1, "xs"))
		end
	end
	e:line("const %s %s;", ty, table.concat(loads, ", "))
	if rounded and long then e:line("%s s;", ty) end
	for i, row in ipairs(A) do
		local dst = string.format("y[%s]", stride_index(i - 1, "ys"))
		local terms = {}
		for k = 1, ncols do
			if not Q.iszero(row[k]) then
				local mag = Q.abs(row[k])
				local v = "x" .. (k - 1)
				if not Q.isone(mag) then
					v = a.mul(literal(mag, ty, rounded and a.fmt), v)
				end
				terms[#terms + 1] = { neg = Q.sign(row[k]) < 0, v = v }
			end
		end
		if #terms == 0 then
			e:line("%s = %s;", dst, zero)
		elseif not rounded then
			local s = {}
			for j, t in ipairs(terms) do
				if j == 1 then
					s[1] = (t.neg and "-" or "") .. t.v
				else
					s[#s + 1] = (t.neg and " - " or " + ") .. t.v
				end
			end
			e:line("%s = %s;", dst, table.concat(s))
		else
			local first = (terms[1].neg and "-" or "") .. terms[1].v
			if #terms == 1 then
				e:line("%s = %s;", dst, first)
			else
				local acc = first
				for j = 2, #terms do
					local t = terms[j]
					local op = t.neg and a.sub or a.add
					local expr = op(acc, t.v)
					if j == #terms then
						e:line("%s = %s;", dst, expr)
					else
						e:line("s = %s;", expr)
						acc = "s"
					end
				end
			end
		end
	end
	e:close("}")
	e:line()
end

local function matrix_comment(w)
	local pts = {}
	for i, p in ipairs(w.points) do pts[i] = Q.tostring(p) end
	pts[#pts + 1] = "infinity"
	local lines = {
		string.format("Winograd F(%dx%d, %dx%d): Y = AT [ (G g G^T) .* (BT d BT^T) ] AT^T,",
			w.m, w.m, w.r, w.r),
		"Cook-Toom with the points " .. table.concat(pts, ", ") .. ",",
		"derived and verified in exact rationals by lib/cooktoom.lua:",
		"",
	}
	for _, mat in ipairs({ { w.AT, "AT" }, { w.G, "G" }, { w.BT, "BT" } }) do
		for l in CT.matrix_tostring(mat[1], mat[2]):gmatch("[^\n]+") do
			lines[#lines + 1] = "  " .. l
		end
		lines[#lines + 1] = ""
	end
	lines[#lines] = nil
	return lines
end

local function emit_constants(e, d, w, a)
	local m = w.m
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d, K = %d, R = %d,",
		d.n, d.c, d.h, d.w, d.k, d.r)
	e:line("\tPAD_H = %d, PAD_W = %d, HO = %d, WO = %d,",
		d.pad_h, d.pad_w, d.ho, d.wo)
	e:line("\tTILE = %d, ALPHA = %d, XI = ALPHA * ALPHA,", m, w.alpha)
	e:line("\tTILES_Y = %d, TILES_X = %d, T = TILES_Y * TILES_X,",
		(d.ho + m - 1) // m, (d.wo + m - 1) // m)
	e:line("\t/* The zero-padded image: every tile, the ragged last ones")
	e:line("\t * included, reads it without a bounds test. */")
	e:line("\tHP = TILES_Y * TILE + R - 1, WP = TILES_X * TILE + R - 1")
	e:line("};")
	e:line()
	if a.kind == "fixed" then
		e:line("/* State: U = G w G^T quantized with its own scale, [xi][k][c]; the bias. */")
		e:line("typedef struct {")
		e:line("\tdouble scale;   /* U's */")
		e:line("\t%s u[XI][K][C];", a.qty)
		e:line("\tfloat bias[K];")
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: one image quantized (the values q s_x) and padded; V of")
		e:line(" * every tile of every image (the batch's V is one tensor, with one")
		e:line(" * scale), then V quantized. */")
		e:line("typedef struct {")
		e:line("\tdouble p[C][HP][WP];")
		e:line("\tdouble v[N][T][XI][C];")
		e:line("\t%s q[N][T][XI][C];", a.qty)
		e:line("} work_t;")
	else
		local st = a.kind == "float" and string.format(" (in %s)", a.precision) or ""
		e:line("/* State: U = G w G^T%s, [xi][k][c]; the bias. */", st)
		e:line("typedef struct {")
		e:line("\t%s u[XI][K][C];", a.ty)
		e:line("\t%s bias[K];", a.ty)
		e:line("} state_t;")
		e:line()
		e:line("/* Workspace: the image as the kernel reads it, padded; V of every tile. */")
		e:line("typedef struct {")
		e:line("\tfloat p[C][HP][WP];")
		e:line("\t%s v[T][XI][C];", a.ty)
		e:line("} work_t;")
	end
	e:line()
end

-- The 2-D transforms built from the 1-D ones.
local function emit_tiles(e, a, tty)
	local after = a.kind == "float" and a.policy == "acc32"
	local store = function(v) return after and a.store(v) or v end
	-- filter_tile: U = G g G^T of one R x R plane into u[xi] (stride us).
	e:line("/* U = G g G^T for one filter plane g (R x R), element xi to u[xi * us]. */")
	e:line("static void filter_tile(const %s *restrict g, %s *restrict u, ptrdiff_t us)",
		tty, tty)
	e:open("{")
	e:line("%s t[ALPHA][R], v[ALPHA][ALPHA];   /* G g, then G g G^T */", tty)
	e:single("for (int j = 0; j < R; j++)", "filter_1d(g + j, R, &t[0][j], R);")
	e:single("for (int i = 0; i < ALPHA; i++)", "filter_1d(&t[i][0], 1, &v[i][0], 1);")
	e:single("for (int xi = 0; xi < XI; xi++)",
		string.format("u[xi * us] = %s;", store("v[xi / ALPHA][xi % ALPHA]")))
	e:close("}")
	e:line()
	e:line("/* V = BT d BT^T for the tile at (y0, x0) of padded plane p, element xi")
	e:line(" * to v[xi * vs]. */")
	e:line("static void input_tile(const %s *restrict p, int y0, int x0,",
		a.kind == "fixed" and "double" or "float")
	e:line("                       %s *restrict v, ptrdiff_t vs)", tty)
	e:open("{")
	e:line("%s dt[ALPHA][ALPHA], t[ALPHA][ALPHA], b[ALPHA][ALPHA];   /* d, BT d, BT d BT^T */", tty)
	e:single("for (int i = 0; i < ALPHA; i++)", "for (int j = 0; j < ALPHA; j++)")
	e.depth = e.depth + 2
	e:line("dt[i][j] = p[(y0 + i) * WP + x0 + j];")
	e.depth = e.depth - 2
	e:single("for (int j = 0; j < ALPHA; j++)", "input_1d(&dt[0][j], ALPHA, &t[0][j], ALPHA);")
	e:single("for (int i = 0; i < ALPHA; i++)", "input_1d(&t[i][0], 1, &b[i][0], 1);")
	local vexpr = store("b[xi / ALPHA][xi % ALPHA]")
	e:single("for (int xi = 0; xi < XI; xi++)", string.format("v[xi * vs] = %s;", vexpr))
	e:close("}")
	e:line()
	e:line("/* Y = AT m AT^T for one tile's m[XI]. */")
	e:line("static void output_tile(const %s *restrict m, %s y[TILE][TILE])", tty, tty)
	e:open("{")
	e:line("%s t[TILE][ALPHA];   /* AT m */", tty)
	e:single("for (int j = 0; j < ALPHA; j++)", "output_1d(m + j, ALPHA, &t[0][j], ALPHA);")
	e:single("for (int i = 0; i < TILE; i++)", "output_1d(&t[i][0], 1, &y[i][0], 1);")
	e:close("}")
	e:line()
end

local function emit_contract(e, d, a, tty)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(state_t);")
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("state_t *st = state;")
	e:line("(void)d;")
	if a.kind == "fixed" then
		e:line("/* The weights quantized, their transform in double from the values")
		e:line(" * q s_w, then U quantized with its own scale. */")
		e:line("const float sw = fixed_scale(weights, (size_t)K * C * R * R);")
		e:line("double (*u)[K][C] = malloc(sizeof(double[XI][K][C]));")
		e:single("if (!u)", "return DP_ERR_NOMEM;")
		e:open("for (int k = 0; k < K; k++) {")
		e:open("for (int c = 0; c < C; c++) {")
		e:line("const float *w = weights + (k * C + c) * R * R;")
		e:line("double g[R * R], ud[XI];")
		e:single("for (int i = 0; i < R * R; i++)", "g[i] = (double)quantize(w[i], sw) * sw;   /* exact */")
		e:line("filter_tile(g, ud, 1);")
		e:single("for (int xi = 0; xi < XI; xi++)", "u[xi][k][c] = ud[xi];")
		e:close("}")
		e:close("}")
		e:line("st->scale = tensor_scale(&u[0][0][0], (size_t)XI * K * C);")
		e:single("for (int xi = 0; xi < XI; xi++)", "for (int k = 0; k < K; k++)")
		e.depth = e.depth + 2
		e:single("for (int c = 0; c < C; c++)",
			string.format("st->u[xi][k][c] = (%s)requantize(u[xi][k][c], st->scale);", a.qty))
		e.depth = e.depth - 2
		e:line("free(u);")
		e:single("for (int k = 0; k < K; k++)", "st->bias[k] = bias ? bias[k] : 0.0f;")
	else
		if a.kind == "float" then
			e:line("/* The weights as %s stores them, then their transform. */", a.precision)
		end
		e:open("for (int k = 0; k < K; k++) {")
		e:open("for (int c = 0; c < C; c++) {")
		e:line("const float *w = weights + (k * C + c) * R * R;")
		e:line("%s g[R * R];", tty)
		e:single("for (int i = 0; i < R * R; i++)", string.format("g[i] = %s;", a.store("w[i]")))
		e:line("filter_tile(g, &st->u[0][k][c], K * C);")
		e:close("}")
		e:line("st->bias[k] = bias ? %s : 0.0%s;", a.store("bias[k]"), a.lit)
		e:close("}")
	end
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return sizeof(work_t);")
	e:close("}")
	e:line()
end

-- The integer formats: V of the whole batch first (one tensor, one
-- scale), then the products and the output transform per image.
local function emit_execute_fixed(e, a)
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const state_t *st = state;")
	e:line("work_t *ws = workspace;")
	e:line("(void)d;")
	e:line("/* One scale for the whole input tensor, every image. */")
	e:line("const float sx = fixed_scale(input, (size_t)N * C * H * W);")
	e:line()
	e:line("/* 1. V = BT d BT^T of every tile, channel and image. */")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("const float *img = input + n * C * H * W;")
	e:line("memset(ws->p, 0, sizeof ws->p);")
	e:single("for (int c = 0; c < C; c++)", "for (int y = 0; y < H; y++)")
	e.depth = e.depth + 2
	e:single("for (int x = 0; x < W; x++)",
		"ws->p[c][y + PAD_H][x + PAD_W] = (double)quantize(img[(c * H + y) * W + x], sx) * sx;")
	e.depth = e.depth - 2
	e:single("for (int t = 0; t < T; t++)", "for (int c = 0; c < C; c++)")
	e.depth = e.depth + 2
	e:line("input_tile(&ws->p[c][0][0], t / TILES_X * TILE, t % TILES_X * TILE, &ws->v[n][t][0][c], C);")
	e.depth = e.depth - 2
	e:close("}")
	e:line("/* V quantized with its own scale. */")
	e:line("const double sv = tensor_scale(&ws->v[0][0][0][0], (size_t)N * T * XI * C);")
	e:single("for (int n = 0; n < N; n++)", "for (int t = 0; t < T; t++)")
	e.depth = e.depth + 2
	e:single("for (int xi = 0; xi < XI; xi++)", "for (int c = 0; c < C; c++)")
	e.depth = e.depth + 2
	e:line("ws->q[n][t][xi][c] = (%s)requantize(ws->v[n][t][xi][c], sv);", a.qty)
	e.depth = e.depth - 4
	e:line()
	e:line("/* 2. M_xi = sum over c of U_xi V_xi, exact; 3. Y = AT M AT^T, plus the bias. */")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("float *out = output + n * K * HO * WO;")
	e:open("for (int t = 0; t < T; t++) {")
	e:line("const int ty = t / TILES_X, tx = t % TILES_X;")
	e:line("const int rows = HO - ty * TILE < TILE ? HO - ty * TILE : TILE;")
	e:line("const int cols = WO - tx * TILE < TILE ? WO - tx * TILE : TILE;")
	e:open("for (int k = 0; k < K; k++) {")
	e:line("double m[XI], y[TILE][TILE];")
	e:open("for (int xi = 0; xi < XI; xi++) {")
	e:line("int64_t acc = 0;")
	e:single("for (int c = 0; c < C; c++)",
		"acc += (int32_t)st->u[xi][k][c] * ws->q[n][t][xi][c];")
	e:line("m[xi] = (double)acc * st->scale * sv;")
	e:close("}")
	e:line("output_tile(m, y);")
	e:line("float *plane = out + (k * HO + ty * TILE) * WO + tx * TILE;")
	e:single("for (int i = 0; i < rows; i++)", "for (int j = 0; j < cols; j++)")
	e.depth = e.depth + 2
	e:line("plane[i * WO + j] = (float)y[i][j] + st->bias[k];")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

-- The helpers of the transformed operands at the integer formats.
local function emit_requantize(e)
	e:comment({
		"The scale of a transformed tensor (U, V): max |v| / QMAX in double over",
		"its finite values, 0 if there is none (v - v is NaN for Inf and NaN).",
	})
	e:line("static double tensor_scale(const double *v, size_t n)")
	e:open("{")
	e:line("double mx = 0.0;")
	e:open("for (size_t i = 0; i < n; i++) {")
	e:line("const double a = v[i] < 0.0 ? -v[i] : v[i];")
	e:single("if (v[i] - v[i] == 0.0 && a > mx)", "mx = a;")
	e:close("}")
	e:line("return mx / QMAX;")
	e:close("}")
	e:line()
	e:comment({
		"v / s rounded to the nearest integer, ties to even, within [-QMAX, QMAX];",
		"0 when s is 0 or v is not finite.",
	})
	e:line("static int32_t requantize(double v, double s)")
	e:open("{")
	e:single("if (!(s > 0.0) || v - v != 0.0)", "return 0;")
	e:line("const double t = v / s;")
	e:single("if (t >= QMAX)", "return QMAX;")
	e:single("if (t <= -QMAX)", "return -QMAX;")
	e:line("int32_t q = (int32_t)t;   /* toward zero */")
	e:line("const double f = t - q;   /* exact */")
	e:single("if (f > 0.5 || (f == 0.5 && (q & 1)))", "q++;")
	e:single("else if (f < -0.5 || (f == -0.5 && (q & 1)))", "q--;")
	e:line("return q;")
	e:close("}")
	e:line()
end

local function emit_execute(e, d, a, tty)
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const state_t *st = state;")
	e:line("work_t *ws = workspace;")
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("const float *img = input + n * C * H * W;")
	e:line("float *out = output + n * K * HO * WO;")
	local x
	if a.kind == "float" then
		x = a.store("img[(c * H + y) * W + x]")
	else
		x = "img[(c * H + y) * W + x]"
	end
	e:line()
	e:line("/* The image as the format stores it, zero-padded. */")
	e:line("memset(ws->p, 0, sizeof ws->p);")
	e:single("for (int c = 0; c < C; c++)", "for (int y = 0; y < H; y++)")
	e.depth = e.depth + 2
	e:single("for (int x = 0; x < W; x++)",
		string.format("ws->p[c][y + PAD_H][x + PAD_W] = %s;", x))
	e.depth = e.depth - 2
	e:line()
	e:line("/* 1. V = BT d BT^T of every tile and channel. */")
	e:single("for (int t = 0; t < T; t++)", "for (int c = 0; c < C; c++)")
	e.depth = e.depth + 2
	e:line("input_tile(&ws->p[c][0][0], t / TILES_X * TILE, t % TILES_X * TILE, &ws->v[t][0][c], C);")
	e.depth = e.depth - 2
	e:line()
	e:line("/* 2. M_xi = sum over c of U_xi V_xi; 3. Y = AT M AT^T, plus the bias. */")
	e:open("for (int t = 0; t < T; t++) {")
	e:line("const int ty = t / TILES_X, tx = t % TILES_X;")
	e:line("const int rows = HO - ty * TILE < TILE ? HO - ty * TILE : TILE;")
	e:line("const int cols = WO - tx * TILE < TILE ? WO - tx * TILE : TILE;")
	e:open("for (int k = 0; k < K; k++) {")
	e:line("%s m[XI], y[TILE][TILE];", tty)
	e:open("for (int xi = 0; xi < XI; xi++) {")
	e:line("%s p[C];", tty)
	e:single("for (int c = 0; c < C; c++)",
		string.format("p[c] = %s;", a.mul("st->u[xi][k][c]", "ws->v[t][xi][c]")))
	e:line("m[xi] = channel_sum(p);")
	e:close("}")
	e:line("output_tile(m, y);")
	local val = a.output("y[i][j]", "st->bias[k]")
	e:line("float *plane = out + (k * HO + ty * TILE) * WO + tx * TILE;")
	e:single("for (int i = 0; i < rows; i++)", "for (int j = 0; j < cols; j++)")
	e.depth = e.depth + 2
	e:line("plane[i * WO + j] = %s;", val)
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local a = emul.arith(d)
	local alpha = d.tile + d.r - 1
	local w = CT.derive(d.tile, d.r, points_of(d, alpha))
	-- The transforms' arithmetic: fp32 for the narrow formats (rounded
	-- per operation under all), double for fp64 and the integer formats.
	local tty = a.kind == "float" and "float" or "double"
	local rounded = a.kind == "float" and a.policy == "all"
	local e = emit.new()
	kernel.banner(e, d, name, string.format(
		"Winograd convolution F(%dx%d, %dx%d), emulated %s", d.tile, d.tile,
		d.r, d.r, emul.label(d)))
	e:line("#include <stddef.h>")
	e:line("#include <stdint.h>")
	e:line("#include <stdlib.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	local desc = emul.describe(a)
	desc[#desc + 1] = ""
	if a.kind == "float" and a.policy == "all" then
		desc[#desc + 1] = "Every add and multiply of the transforms is rounded too, and their"
		desc[#desc + 1] = string.format("constants are stored in %s (the exact coefficient rounded).",
			a.precision)
	elseif a.kind == "float" then
		desc[#desc + 1] = "The filter and input transforms compute in fp32 (fp32 constants) and"
		desc[#desc + 1] = "round each element of U and V once; M and the output transform are"
		desc[#desc + 1] = "fp32."
	elseif a.kind == "fixed" then
		desc[#desc + 1] = "The transforms compute in double; U and V are quantized again, each"
		desc[#desc + 1] = "with its own per-tensor scale max|v| / QMAX (V: the whole batch's),"
		desc[#desc + 1] = "as the runtime emulation does."
	else
		desc[#desc + 1] = "The transforms' constants are the nearest doubles."
	end
	e:comment(desc)
	e:line()
	e:comment(matrix_comment(w))
	e:line()
	emit_constants(e, d, w, a)
	emul.emit_prelude(e, a)
	if a.kind == "fixed" then
		emit_requantize(e)
	else
		emul.emit_pairwise(e, a, d.c)
	end
	emit_linear(e, "filter_1d", w.G, string.format("y = G x: %d filter taps to %d values.",
		w.r, w.alpha), a, tty, rounded)
	emit_linear(e, "input_1d", w.BT, string.format("y = BT x: %d input pixels to %d values.",
		w.alpha, w.alpha), a, tty, rounded)
	emit_linear(e, "output_1d", w.AT, string.format("y = AT x: %d products to %d outputs.",
		w.alpha, w.m), a, tty, rounded)
	emit_tiles(e, a, tty)
	emit_contract(e, d, a, tty)
	if a.kind == "fixed" then
		emit_execute_fixed(e, a)
	else
		emit_execute(e, d, a, tty)
	end
	kernel.object(e, d, name)
	return e:text()
end

return M
