-- conv_winograd.lua - Winograd F(m x m, r x r) convolution for one shape.
--
-- The transforms come from lib/cooktoom.lua in exact rationals:
--   Y = AT [ (G g G^T) .* (BT d BT^T) ] AT^T
-- for an alpha x alpha input tile d (alpha = m + r - 1) and an m x m
-- output tile Y. The kernel is the usual three stages:
--   prepare:  U = G g G^T for every (k, c), stored as alpha*alpha matrices
--             of K x C, so that each stage-2 product reads one of them;
--   execute:  1. V = BT d BT^T for every tile and channel, scattered into
--                alpha*alpha matrices of C x T (T = tiles per image);
--             2. M_xi = U_xi V_xi, alpha*alpha products (K x C)(C x T);
--             3. Y = AT M AT^T per tile, plus the bias, cropped to the
--                output (the last tile row and column may be ragged).
-- Threads: each stage of execute() (0. padding the input into a
-- channels-last buffer, then 1-3) is one par_for over independent items
-- (padded rows, tiles, whole products, tiles or filters), each writing
-- its own part of the buffers, so results are bitwise identical for any
-- thread count (emit_phases says why whole products).
-- Each 1-D transform is emitted once as straight-line code with the
-- constants folded (no multiply by 0 or +-1; pairs of points p, -p share
-- their sums and differences); a 2-D transform is the 1-D one applied to
-- the columns and then to the rows of the tile.
local emit = require("lib.emit")
local kernel = require("lib.kernel")
local gemm = require("lib.gemm")
local parallel = require("lib.parallel")
local Q = require("lib.rational")
local CT = require("lib.cooktoom")

local M = {}

-- The alpha - 1 finite points: the descriptor's list or the default.
local function points_of(d, alpha)
	if d.points == nil or d.points == "" then
		return CT.default_points(alpha - 1)
	end
	local pts = {}
	for s in d.points:gmatch("[^,]+") do pts[#pts + 1] = s end
	return pts
end

-- Straight-line code for a linear map --------------------------------

-- A linear form is a list of terms { coef = rational, var = "name" },
-- in the order the inputs come; all coefficients are nonzero.

-- One term of a sum, with its sign as the operator unless it is first.
local function term_text(t, first)
	local c, neg = t.coef, Q.sign(t.coef) < 0
	local mag = Q.abs(c)
	local body = Q.isone(mag) and t.var or
		string.format("%s * %s", Q.to_c_literal(mag), t.var)
	if first then return (neg and "-" or "") .. body end
	return (neg and " - " or " + ") .. body
end

-- Terms in input order, except that a sum starting with a negative term
-- starts with its first positive one instead: "x4 - x2", not "-x2 + x4".
local function join_terms(terms)
	local order = {}
	for i = 1, #terms do order[i] = terms[i] end
	if Q.sign(order[1].coef) < 0 then
		for i = 2, #order do
			if Q.sign(order[i].coef) > 0 then
				table.insert(order, 1, table.remove(order, i))
				break
			end
		end
	end
	local s = {}
	for i, t in ipairs(order) do s[i] = term_text(t, i == 1) end
	return table.concat(s)
end

-- A C expression for a form: "0.0f" when empty, a common coefficient
-- factored out when every term has the same magnitude ("0.5f * (a + b)").
local function form_text(terms, zero)
	if #terms == 0 then return zero or "0.0f" end
	local c = terms[1].coef
	local common = #terms > 1 and not Q.isone(Q.abs(c))
	for _, t in ipairs(terms) do
		if not Q.eq(Q.abs(t.coef), Q.abs(c)) then common = false end
	end
	if not common then return join_terms(terms) end
	local inner = {}
	for i, t in ipairs(terms) do
		inner[i] = { coef = t.coef / c, var = t.var }
	end
	return string.format("%s * (%s)", Q.to_c_literal(c), join_terms(inner))
end

-- Columns k < l of A that appear in every row as a sum or a difference
-- (A[i][l] = +-A[i][k]) in at least two rows: x_k + x_l and x_k - x_l are
-- then computed once. Columns of the points p and -p in AT pair this way.
local function column_pairs(A, ncols)
	local taken, found = {}, {}
	for k = 1, ncols do
		for l = k + 1, ncols do
			if not taken[k] and not taken[l] then
				local ok, used, sum, diff = true, 0, false, false
				for _, row in ipairs(A) do
					local a, b = row[k], row[l]
					if Q.iszero(a) and Q.iszero(b) then
						-- neither input is used by this row
					elseif Q.eq(a, b) then
						used, sum = used + 1, true
					elseif Q.eq(a, -b) then
						used, diff = used + 1, true
					else
						ok = false
						break
					end
				end
				if ok and used >= 2 then
					taken[k], taken[l] = true, true
					found[#found + 1] = { k = k, l = l, sum = sum, diff = diff }
				end
			end
		end
	end
	return found
end

-- Rows a < b whose forms have the same inputs with coefficients equal
-- up to sign, both signs present and at least three terms: then
-- y_a = s + t and y_b = s - t with s the terms of equal sign and t the
-- others. Rows of the points p and -p in BT and G pair this way.
local function row_pairs(forms)
	local taken, found = {}, {}
	for a = 1, #forms do
		for b = a + 1, #forms do
			if not taken[a] and not taken[b] and #forms[a] == #forms[b]
				and #forms[a] >= 3 then
				local same, opp, ok = {}, {}, true
				for i, ta in ipairs(forms[a]) do
					local tb = forms[b][i]
					if ta.var ~= tb.var then
						ok = false
					elseif Q.eq(ta.coef, tb.coef) then
						same[#same + 1] = ta
					elseif Q.eq(ta.coef, -tb.coef) then
						opp[#opp + 1] = ta
					else
						ok = false
					end
					if not ok then break end
				end
				if ok and #same > 0 and #opp > 0 then
					taken[a], taken[b] = true, true
					found[#found + 1] = { a = a, b = b, same = same, opp = opp }
				end
			end
		end
	end
	return found
end

local function stride_index(i, stride)
	if i == 0 then return "0" end
	if i == 1 then return stride end
	return string.format("%d * %s", i, stride)
end

-- Arithmetic operators in a C expression of form_text/term_text: the
-- binary + - * between terms (spelled with spaces around them) and a
-- leading unary minus. Constants are magnitudes, so they hold no sign.
local function ops_of(expr)
	local n = expr:sub(1, 1) == "-" and 1 or 0
	for _ in expr:gmatch(" [%+%-%*] ") do n = n + 1 end
	return n
end

-- static inline void fname(x, xs, y, ys): y = A x for the rows x rows
-- rational matrix A, x and y read and written with strides xs and ys, in
-- elements of type ty ("float", or "vec": 8 channels at once). Returns
-- the number of arithmetic operations emitted (one call's work, per lane).
local function emit_linear(e, fname, A, what, ty)
	ty = ty or "float"
	local zero = ty == "float" and "0.0f" or "(vec){ 0 }"
	local nrows, ncols = #A, #A[1]
	e:line("/* %s */", what)
	e:line("static inline void %s(const %s *restrict x, ptrdiff_t xs,", fname, ty)
	e:line("%s%s *restrict y, ptrdiff_t ys)",
		string.rep(" ", #("static inline void " .. fname .. "(")), ty)
	e:open("{")
	-- Which inputs any row reads: only those are loaded.
	local used = {}
	for _, row in ipairs(A) do
		for k = 1, ncols do
			if not Q.iszero(row[k]) then used[k] = true end
		end
	end
	-- A 1-tap input or a 1-row output never steps its stride.
	local strided = false
	for k = 2, ncols do strided = strided or used[k] end
	if not strided then e:line("(void)xs;") end
	if nrows == 1 then e:line("(void)ys;") end
	for k = 1, ncols do
		if used[k] then
			e:line("const %s x%d = x[%s];", ty, k - 1, stride_index(k - 1, "xs"))
		end
	end
	-- Sums and differences of paired inputs.
	local cp = column_pairs(A, ncols)
	if #cp > 0 then
		e:line("/* xapb = xa + xb, xamb = xa - xb: inputs that every output")
		e:line(" * takes as a sum or a difference (points p and -p). */")
	end
	local pair_of, ops = {}, 0
	for _, p in ipairs(cp) do
		pair_of[p.k], pair_of[p.l] = p, p
		local a, b = p.k - 1, p.l - 1
		if p.sum then
			e:line("const %s x%dp%d = x%d + x%d;", ty, a, b, a, b)
			ops = ops + 1
		end
		if p.diff then
			e:line("const %s x%dm%d = x%d - x%d;", ty, a, b, a, b)
			ops = ops + 1
		end
	end
	local forms = {}
	for i, row in ipairs(A) do
		local f = {}
		for k = 1, ncols do
			local p = pair_of[k]
			if p and k == p.k and not Q.iszero(row[k]) then
				local op = Q.eq(row[p.l], row[k]) and "p" or "m"
				f[#f + 1] = { coef = row[k],
					var = string.format("x%d%s%d", p.k - 1, op, p.l - 1) }
			elseif not p and not Q.iszero(row[k]) then
				f[#f + 1] = { coef = row[k], var = "x" .. (k - 1) }
			end
		end
		forms[i] = f
	end
	-- Rows that share their terms up to sign.
	local rp = row_pairs(forms)
	if #rp > 0 then
		e:line("/* Outputs a and b (points p and -p) are sab + tab and sab - tab:")
		e:line(" * s holds the terms they share, t those of opposite sign. */")
	end
	local done = {}
	for _, p in ipairs(rp) do
		local a, b = p.a - 1, p.b - 1
		local st, tt = form_text(p.same, zero), form_text(p.opp, zero)
		e:line("const %s s%d%d = %s;", ty, a, b, st)
		e:line("const %s t%d%d = %s;", ty, a, b, tt)
		ops = ops + ops_of(st) + ops_of(tt)
		done[p.a] = string.format("s%d%d + t%d%d", a, b, a, b)
		done[p.b] = string.format("s%d%d - t%d%d", a, b, a, b)
	end
	for i = 1, nrows do
		local y = done[i] or form_text(forms[i], zero)
		e:line("y[%s] = %s;", stride_index(i - 1, "ys"), y)
		ops = ops + ops_of(y)
	end
	e:close("}")
	e:line()
	return ops
end

-- The parts of the file -------------------------------------------------

local function matrix_comment(w)
	local pts = {}
	for i, p in ipairs(w.points) do pts[i] = Q.tostring(p) end
	pts[#pts + 1] = "infinity"
	local lines = {
		string.format("Winograd F(%dx%d, %dx%d): each %dx%d input tile gives a %dx%d output",
			w.m, w.m, w.r, w.r, w.alpha, w.alpha, w.m, w.m),
		string.format("tile with %d multiplications instead of %d, by",
			w.alpha * w.alpha, w.m * w.m * w.r * w.r),
		"  Y = AT [ (G g G^T) .* (BT d BT^T) ] AT^T",
		"(cross-correlation, as in CNNs). Cook-Toom with the points",
		"  " .. table.concat(pts, ", "),
		"derived and verified in exact rationals by lib/cooktoom.lua:",
		"",
	}
	for _, mat in ipairs({ { w.AT, "AT" }, { w.G, "G" }, { w.BT, "BT" } }) do
		for l in CT.matrix_tostring(mat[1], mat[2]):gmatch("[^\n]+") do
			lines[#lines + 1] = "  " .. l
		end
		lines[#lines + 1] = ""
	end
	lines[#lines + 1] = "Coefficients with no exact float (1/6, 1/24, ...) are rounded to"
	lines[#lines + 1] = "the nearest one. The rows (BT, G) and columns (AT) of a pair of"
	lines[#lines + 1] = "points p, -p differ only in the signs of their odd powers, so"
	lines[#lines + 1] = "the 1-D transforms compute those shared parts once."
	return lines
end

local LANES = 8   -- floats per vector (AVX2); see lib/gemm.lua

local function round_up(x, m) return (x + m - 1) // m * m end

-- How stage 2 runs. Two layouts of the alpha^2 products:
--   tile-major (lib/gemm.lua): M_xi^T (T x KP) = V_xi^T U_xi^T, tiles as
--     the GEMM's rows (broadcast), filters as its vector columns, U^T
--     packed as its B. Each NR-column panel of U is read once from memory
--     and then again from L1 for every further MR rows of tiles.
--   filter-major (below): M_xi (KP x TP) = U_xi V_xi, filters as the rows
--     (broadcast from U, packed at prepare time in exactly the order the
--     register block reads it) and tiles as the vector columns (T rounded
--     up to TP, a multiple of 8). U is then read once per panel of NR
--     tiles, in one sequential stream, with a software prefetch ahead of
--     it: what matters at batch 1 when there are few tiles and U is
--     large (C512 H7: U is 16 MiB, T = 16).
-- Filter-major is used for small images, at most 32 tiles (two panels),
-- when the tiles fill the vectors well (at most 1/8 of the lanes are
-- padding). With more tiles the tile-major GEMM reuses each panel of U
-- from L1 often enough to hide its first read (measured with
-- bench/bench_winograd: C256 H14 F(4,3), T = 16: filter-major 2.7x
-- im2col-blas against 1.8x; C64 H56 F(4,3), T = 196: 2.1x against 2.4x).
local MAX_SLICES = 16        -- slots of packed A for the products, at most
local FM_MR = 6            -- filters per register block (12 accumulators)
local FM_PREFETCH = 1024   -- floats of U prefetched ahead of the block

local function plan_products(tiles, kp)
	local tp = round_up(tiles, LANES)
	return {
		fm = tp <= 4 * LANES and (tp - tiles) * 8 <= tp,
		tiles = tiles,
		tp = tp,
		mr = FM_MR,
		nr = 2 * LANES,            -- tiles per register block
		kf = kp - kp % FM_MR,      -- filters in whole blocks of MR
		tpf = tp - tp % (2 * LANES), -- tiles in whole blocks of NR
	}
end

local function emit_constants(e, d, w, pp)
	local m, alpha = w.m, w.alpha
	local tiles_y = (d.ho + m - 1) // m
	local tiles_x = (d.wo + m - 1) // m
	e:line("/* The problem, as constants. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d, K = %d, R = %d,",
		d.n, d.c, d.h, d.w, d.k, d.r)
	e:line("\tPAD_H = %d, PAD_W = %d, HO = %d, WO = %d,",
		d.pad_h, d.pad_w, d.ho, d.wo)
	e:line("\t/* m x m output tiles, each computed from an alpha x alpha input")
	e:line("\t * tile; tiles overlap by r - 1 = %d input rows and columns. */", d.r - 1)
	e:line("\tTILE = %d, ALPHA = %d, XI = ALPHA * ALPHA,", m, alpha)
	e:line("\tTILES_Y = %d, TILES_X = %d, T = TILES_Y * TILES_X,", tiles_y, tiles_x)
	e:line("\t/* Channels and filters rounded up to whole vectors of %d: the", LANES)
	e:line("\t * transforms work on %d channels (filters) at once; the extra", LANES)
	e:line("\t * ones are zero and drop out of the products. */")
	e:line("\tLANES = %d, CP = %d, KP = %d,", LANES, round_up(d.c, LANES),
		round_up(d.k, LANES))
	e:line("\t/* The input, zero-padded and channels-last: every tile, the")
	e:line("\t * ragged last ones included, reads it without a bounds test. */")
	e:line("\tHP = TILES_Y * TILE + R - 1, WP = TILES_X * TILE + R - 1%s",
		pp.fm and "," or "")
	if pp.fm then
		e:line("\t/* Stage 2, filter-major: M_xi (KP x TP) = U_xi (KP x CP) V_xi")
		e:line("\t * (CP x TP), the tiles rounded up to TP (the extra ones are zero")
		e:line("\t * and never stored). Register blocks of MR filters by NR tiles;")
		e:line("\t * KF filters and TPF tiles are in whole blocks. */")
		e:line("\tTP = %d, MR = %d, NR = %d, KF = %d, TPF = %d,", pp.tp, pp.mr,
			pp.nr, pp.kf, pp.tpf)
		e:line("\t/* Floats of U prefetched ahead of the register block: U is read")
		e:line("\t * once per call, as one stream from memory. */")
		e:line("\tU_PREFETCH = %d", FM_PREFETCH)
	end
	e:line("};")
	e:line()
	if pp.fm then
		e:line("/* Sizes of the transformed tensors, which can exceed int: U is XI")
		e:line(" * matrices of KP x CP, packed once per weights in blocks of MR")
		e:line(" * filters, channel by channel; V is XI matrices of CP x TP, M of")
		e:line(" * KP x TP. */")
		e:line("static const ptrdiff_t KC = (ptrdiff_t)KP * CP;")
		e:line("static const ptrdiff_t CTP = (ptrdiff_t)CP * TP;")
		e:line("static const ptrdiff_t KTP = (ptrdiff_t)KP * TP;")
		e:line("static const ptrdiff_t PADDED = (ptrdiff_t)HP * WP * CP;")
		e:line()
		e:line("/* %d floats; loads and stores of it are aligned (every offset is a", LANES)
		e:line(" * multiple of %d floats from a 64-byte boundary). */", LANES)
		e:line("typedef float vec __attribute__((vector_size(%d)));", LANES * 4)
		e:line()
		return
	end
	e:line("/* Sizes of the transformed tensors, which can exceed int. Stage 2")
	e:line(" * computes M_xi^T (T x KP) = V_xi^T (T x CP) * U_xi^T (CP x KP) with")
	e:line(" * the generated GEMM, so U^T is its B, packed once per weights:")
	e:line(" * U is XI matrices of CP x KP, V of T x CP, M of T x KP. */")
	e:line("static const ptrdiff_t KC = (ptrdiff_t)KP * CP;")
	e:line("static const ptrdiff_t CT = (ptrdiff_t)CP * T;")
	e:line("static const ptrdiff_t KT = (ptrdiff_t)KP * T;")
	e:line("static const ptrdiff_t PADDED = (ptrdiff_t)HP * WP * CP;")
	e:line()
	e:line("/* %d floats; loads and stores of it are aligned (every offset is a", LANES)
	e:line(" * multiple of %d floats from a 64-byte boundary). */", LANES)
	e:line("typedef float vec __attribute__((vector_size(%d)));", LANES * 4)
	e:line()
end

-- An 8 x 8 transpose in registers, the usual AVX one (interleave pairs
-- of rows, then pairs of pairs, then swap 128-bit halves), written with
-- the compilers' vector shuffles.
local function emit_transpose(e)
	e:line("/* Shuffles of two vecs: clang and gcc spell them differently. */")
	e:line("typedef int ivec __attribute__((vector_size(%d)));", LANES * 4)
	e:line("#if defined(__clang__)")
	e:line("#define SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)")
	e:line("#else")
	e:line("#define SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (ivec){ __VA_ARGS__ })")
	e:line("#endif")
	e:line()
	e:line("/* r[i][j] <-> r[j][i]. */")
	e:line("static inline void transpose(vec r[LANES])")
	e:open("{")
	e:line("vec a[LANES], b[LANES];")
	e:open("for (int i = 0; i < LANES; i += 2) {")
	e:line("a[i] = SHUFFLE(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);")
	e:line("a[i + 1] = SHUFFLE(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);")
	e:close("}")
	e:open("for (int i = 0; i < LANES; i += 4) {")
	e:line("b[i] = SHUFFLE(a[i], a[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);")
	e:line("b[i + 1] = SHUFFLE(a[i], a[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);")
	e:line("b[i + 2] = SHUFFLE(a[i + 1], a[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);")
	e:line("b[i + 3] = SHUFFLE(a[i + 1], a[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);")
	e:close("}")
	e:open("for (int i = 0; i < 4; i++) {")
	e:line("r[i] = SHUFFLE(b[i], b[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);")
	e:line("r[i + 4] = SHUFFLE(b[i], b[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_transforms(e, w, pp)
	emit_linear(e, "filter_1d", w.G,
		string.format("y = G x: %d filter taps to %d values.", w.r, w.alpha))
	local ops_in = emit_linear(e, "input_1d", w.BT,
		string.format("y = BT x: %d input pixels to %d values, %d channels at once.",
			w.alpha, w.alpha, LANES), "vec")
	local ops_out = emit_linear(e, "output_1d", w.AT,
		string.format("y = AT x: %d products to %d outputs, %d filters at once.",
			w.alpha, w.m, LANES), "vec")

	e:line("/* U = G g G^T for one filter plane g (R x R); element xi of U is")
	e:line(" * stored at u[xi * KC]. */")
	e:line("static void filter_tile(const float *restrict g, float *restrict u)")
	e:open("{")
	e:line("float t[ALPHA][R];   /* G g */")
	e:single("for (int j = 0; j < R; j++)", "filter_1d(g + j, R, &t[0][j], R);")
	e:single("for (int i = 0; i < ALPHA; i++)",
		"filter_1d(&t[i][0], 1, u + i * ALPHA * KC, KC);")
	e:close("}")
	e:line()

	if pp.fm then
		e:line("/* V = BT d BT^T for the tile at (y0, x0) of the padded input, for")
		e:line(" * channels c0 .. c0 + LANES - 1, into v[xi]. */")
	else
		e:line("/* V = BT d BT^T for the tile at (y0, x0) of the padded input, for")
		e:line(" * channels c0 .. c0 + LANES - 1; element xi goes to v[xi * CT]. */")
	end
	e:line("static void input_tile(const float *restrict p, int y0, int x0, int c0,")
	e:line("                       %s *restrict v)", pp.fm and "vec" or "float")
	e:open("{")
	e:line("vec d[ALPHA][ALPHA], t[ALPHA][ALPHA];   /* d, then BT d */")
	e:single("for (int i = 0; i < ALPHA; i++)", "for (int j = 0; j < ALPHA; j++)")
	e.depth = e.depth + 2
	e:line("d[i][j] = *(const vec *)(p + ((ptrdiff_t)(y0 + i) * WP + x0 + j) * CP + c0);")
	e.depth = e.depth - 2
	e:single("for (int j = 0; j < ALPHA; j++)",
		"input_1d(&d[0][j], ALPHA, &t[0][j], ALPHA);")
	if pp.fm then
		e:single("for (int i = 0; i < ALPHA; i++)",
			"input_1d(&t[i][0], 1, v + i * ALPHA, 1);")
	else
		e:single("for (int i = 0; i < ALPHA; i++)",
			"input_1d(&t[i][0], 1, (vec *)v + i * ALPHA * (CT / LANES), CT / LANES);")
	end
	e:close("}")
	e:line()
	if pp.fm then
		emit_transpose(e)
		e:line("/* V for the tiles t0 .. t0 + LANES - 1 and channels c0 .. c0 +")
		e:line(" * LANES - 1: the tiles transformed 8 channels at a time, then each")
		e:line(" * element xi transposed to 8 rows of V (one per channel) of 8 tiles")
		e:line(" * each. Tiles past T are zero. */")
		e:line("static void input_tiles(const float *restrict p, int t0, int c0,")
		e:line("                        float *restrict v)")
		e:open("{")
		e:line("vec u[LANES][XI];")
		e:open("for (int l = 0; l < LANES; l++) {")
		e:line("const int t = t0 + l;")
		if pp.tp > pp.tiles then
			e:open("if (t >= T) {")
			e:single("for (int xi = 0; xi < XI; xi++)", "u[l][xi] = (vec){ 0 };")
			e:line("continue;")
			e:close("}")
		end
		e:line("input_tile(p, t / TILES_X * TILE, t % TILES_X * TILE, c0, u[l]);")
		e:close("}")
		e:open("for (int xi = 0; xi < XI; xi++) {")
		e:line("vec r[LANES];")
		e:single("for (int l = 0; l < LANES; l++)", "r[l] = u[l][xi];")
		e:line("transpose(r);")
		e:single("for (int l = 0; l < LANES; l++)",
			"*(vec *)(v + xi * CTP + (ptrdiff_t)(c0 + l) * TP + t0) = r[l];")
		e:close("}")
		e:close("}")
		e:line()
	end

	if pp.fm then
		e:line("/* Y = AT m AT^T for the tiles t0 .. t0 + LANES - 1 of one filter")
		e:line(" * (element xi of m at m[xi * KTP]), plus the filter's bias; only")
		e:line(" * the tiles below T, and of them the rows x cols inside the output,")
		e:line(" * are stored into the filter's plane. */")
		e:line("static void output_tile(const float *restrict m, float bias, int t0,")
		e:line("                        float *restrict plane)")
		e:open("{")
		e:line("vec t[TILE][ALPHA], y[TILE][TILE];   /* AT m, then AT m AT^T */")
		e:single("for (int j = 0; j < ALPHA; j++)",
			"output_1d((const vec *)m + j * (KTP / LANES), ALPHA * (KTP / LANES), &t[0][j], ALPHA);")
		e:single("for (int i = 0; i < TILE; i++)",
			"output_1d(&t[i][0], 1, &y[i][0], 1);")
		e:line("const int lanes = T - t0 < LANES ? T - t0 : LANES;")
		e:open("for (int l = 0; l < lanes; l++) {")
		e:line("const int ty = (t0 + l) / TILES_X, tx = (t0 + l) % TILES_X;")
		e:line("const int rows = HO - ty * TILE < TILE ? HO - ty * TILE : TILE;")
		e:line("const int cols = WO - tx * TILE < TILE ? WO - tx * TILE : TILE;")
		e:line("float *o = plane + ty * TILE * WO + tx * TILE;")
		e:single("for (int i = 0; i < rows; i++)", "for (int j = 0; j < cols; j++)")
		e.depth = e.depth + 2
		e:line("o[i * WO + j] = y[i][j][l] + bias;")
		e.depth = e.depth - 2
		e:close("}")
		e:close("}")
		e:line()
	else
		e:line("/* Y = AT m AT^T for one tile and filters k0 .. k0 + LANES - 1")
		e:line(" * (element xi of m at m[xi * KT]), plus the bias; only the rows x")
		e:line(" * cols inside the output are stored, each filter to its plane. */")
		e:line("static void output_tile(const float *restrict m, const float *restrict bias,")
		e:line("                        int k0, float *restrict out, int rows, int cols)")
		e:open("{")
		e:line("vec t[TILE][ALPHA], y[TILE][TILE];   /* AT m, then AT m AT^T */")
		e:line("const vec b = *(const vec *)(bias + k0);")
		e:single("for (int j = 0; j < ALPHA; j++)",
			"output_1d((const vec *)m + j * (KT / LANES), ALPHA * (KT / LANES), &t[0][j], ALPHA);")
		e:single("for (int i = 0; i < TILE; i++)",
			"output_1d(&t[i][0], 1, &y[i][0], 1);")
		e:line("const int lanes = K - k0 < LANES ? K - k0 : LANES;")
		e:open("for (int l = 0; l < lanes; l++) {")
		e:line("float *plane = out + (ptrdiff_t)(k0 + l) * HO * WO;")
		e:single("for (int i = 0; i < rows; i++)", "for (int j = 0; j < cols; j++)")
		e.depth = e.depth + 2
		e:line("plane[i * WO + j] = y[i][j][l] + b[l];")
		e.depth = e.depth - 2
		e:close("}")
		e:close("}")
		e:line()
	end

	if not pp.fm then emit_transpose(e) end
	e:line("/* Padded rows y0 .. y1 - 1 of the channels-last buffer: zero rows")
	e:line(" * and columns around the image, zero channels past C, and each image")
	e:line(" * row in blocks of 8 channels x 8 pixels transposed in registers")
	e:line(" * (the last W % 8 pixels one by one). Rows are independent: the")
	e:line(" * threads share them. */")
	e:line("static void pad_rows(const float *restrict img, float *restrict p, int y0, int y1)")
	e:open("{")
	e:line("typedef float uvec __attribute__((vector_size(%d), aligned(4)));",
		LANES * 4)
	e:open("for (int y = y0; y < y1; y++) {")
	e:line("float *row = p + (ptrdiff_t)y * WP * CP;")
	if pp.border_rows then
		e:open("if (y < PAD_H || y >= PAD_H + H) {")
		e:line("memset(row, 0, (size_t)WP * CP * sizeof(float));")
		e:line("continue;")
		e:close("}")
	end
	e:line("memset(row, 0, (size_t)PAD_W * CP * sizeof(float));")
	e:line("memset(row + (ptrdiff_t)(PAD_W + W) * CP, 0,")
	e:line("       (size_t)(WP - PAD_W - W) * CP * sizeof(float));")
	e:line("row += (ptrdiff_t)PAD_W * CP;")
	e:open("for (int c0 = 0; c0 < CP; c0 += LANES) {")
	e:line("const float *src = img + ((ptrdiff_t)c0 * H + y - PAD_H) * W;")
	e:line("int x = 0;")
	e:open("for (; x + LANES <= W; x += LANES) {")
	e:line("vec r[LANES];")
	e:single("for (int l = 0; l < LANES; l++)",
		"r[l] = c0 + l < C ? *(const uvec *)(src + (ptrdiff_t)l * H * W + x) : (vec){ 0 };")
	e:line("transpose(r);")
	e:single("for (int l = 0; l < LANES; l++)",
		"*(vec *)(row + (ptrdiff_t)(x + l) * CP + c0) = r[l];")
	e:close("}")
	e:single("for (; x < W; x++)", "for (int l = 0; l < LANES; l++)")
	e.depth = e.depth + 2
	e:line("row[(ptrdiff_t)x * CP + c0 + l] = c0 + l < C ? src[(ptrdiff_t)l * H * W + x] : 0.0f;")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:close("}")
	e:line()
	return { input = ops_in, output = ops_out }
end

local function emit_state(e, pp)
	kernel.align_up(e)
	e:line("/* State: the bias (KP values), then U^T packed for the GEMM, XI")
	e:line(" * sets of PACKED_B floats, each from a 64-byte boundary. */")
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)XI * PACKED_B + KP + 2 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("/* The filter transform, once per weights: U^T into a temporary,")
	e:line(" * then packed as the GEMM's B, one product at a time. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("float *b = align_up(state);")
	e:line("float *packed = align_up(b + KP);")
	e:line("float *u = calloc((size_t)XI * KC, sizeof(float));")
	e:line("(void)d;")
	e:single("if (!u)", "return DP_ERR_NOMEM;")
	e:open("for (int k = 0; k < K; k++) {")
	e:single("for (int c = 0; c < C; c++)",
		"filter_tile(weights + ((ptrdiff_t)k * C + c) * R * R, u + (ptrdiff_t)c * KP + k);")
	e:close("}")
	e:single("for (int xi = 0; xi < XI; xi++)",
		"gemm_pack_b(u + xi * KC, packed + (ptrdiff_t)xi * PACKED_B);")
	e:line("free(u);")
	e:line("memset(b, 0, KP * sizeof(float));")
	e:single("if (bias)", "memcpy(b, bias, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	if pp.slots then
		e:line("/* Workspace, each part from a 64-byte boundary: the padded input,")
		e:line(" * V, M and SLICES slots of the GEMM's packed A, one per slice of")
		e:line(" * the products (whichever thread runs it). */")
		e:line("static size_t workspace_bytes(const dp_desc *d)")
		e:open("{")
		e:line("(void)d;")
		e:line("return ((size_t)PADDED + XI * (CT + KT) + (size_t)SLICES * A_SLOT +")
		e:line("        4 * ALIGN) * sizeof(float);")
	else
		e:line("/* Workspace, each part from a 64-byte boundary: the padded input,")
		e:line(" * V and M (the GEMM packs nothing). */")
		e:line("static size_t workspace_bytes(const dp_desc *d)")
		e:open("{")
		e:line("(void)d;")
		e:line("return ((size_t)PADDED + XI * (CT + KT) + 3 * ALIGN) * sizeof(float);")
	end
	e:close("}")
	e:line()
end

-- Stage 2, filter-major ----------------------------------------------

-- The register block fname: m (rows x 8 nv, row stride TP) = u (CP steps
-- of `rows` packed floats) times v (CP rows of 8 nv floats, row stride
-- TP), over all CP channels.
local function emit_fm_micro(e, fname, rows, nv)
	e:line("static inline void %s(const float *restrict u, const float *restrict v,", fname)
	e:line("%sfloat *restrict m)", string.rep(" ", #("static inline void " .. fname .. "(")))
	e:open("{")
	for r = 0, rows - 1 do
		local names = {}
		for j = 0, nv - 1 do names[#names + 1] = string.format("m%d_%d = { 0 }", r, j) end
		e:line("vec %s;", table.concat(names, ", "))
	end
	e:open("for (int c = 0; c < CP; c++) {")
	e:line("__builtin_prefetch(u + U_PREFETCH);")
	for j = 0, nv - 1 do
		e:line("const vec v%d = *(const vec *)(v + %d);", j, j * LANES)
	end
	for r = 0, rows - 1 do
		local fmas = {}
		for j = 0, nv - 1 do
			fmas[#fmas + 1] = string.format("m%d_%d += u%d * v%d;", r, j, r, j)
		end
		e:line("const vec u%d = u[%d] - (vec){ 0 };   %s", r, r, table.concat(fmas, " "))
	end
	e:line("u += %d;", rows)
	e:line("v += TP;")
	e:close("}")
	for r = 0, rows - 1 do
		for j = 0, nv - 1 do
			e:line("*(vec *)(m + %s%d) = m%d_%d;",
				r == 0 and "" or string.format("%d * TP + ", r), j * LANES, r, j)
		end
	end
	e:close("}")
	e:line()
end

local function emit_fm_products(e, pp, kp)
	local mt, nt = kp - pp.kf, pp.tp - pp.tpf
	e:comment({
		string.format("The register blocks of stage 2: %d filters by %d tiles in %d",
			pp.mr, pp.nr, pp.mr * pp.nr // LANES),
		"accumulators, over all CP channels. Per channel: NR / 8 loads of V",
		"(a row of the panel, from L1), one broadcast of U per filter (x -",
		"(vec){0}: one broadcast from memory under gcc and clang) and a",
		"prefetch of U a few KiB ahead: U streams from memory once per",
		"panel of tiles, and the hardware prefetcher alone falls behind.",
	})
	emit_fm_micro(e, "block", pp.mr, pp.nr // LANES)
	if mt > 0 then emit_fm_micro(e, "block_mt", mt, pp.nr // LANES) end
	if nt > 0 then emit_fm_micro(e, "block_nt", pp.mr, nt // LANES) end
	if mt > 0 and nt > 0 then emit_fm_micro(e, "block_mt_nt", mt, nt // LANES) end

	e:line("/* M_xi = U_xi V_xi for one xi: panels of NR tiles, then blocks of MR")
	e:line(" * filters, so that the panel of V stays in L1 while U streams past it. */")
	e:line("static void product(const float *restrict ux, const float *restrict vx,")
	e:line("                    float *restrict mx)")
	e:open("{")
	local function rows(suffix, j)
		e:single("for (int k = 0; k < KF; k += MR)",
			string.format("block%s(ux + k * CP, vx + %s, mx + k * TP + %s);", suffix, j, j))
		if mt > 0 then
			e:line("block_mt%s(ux + KF * CP, vx + %s, mx + KF * TP + %s);", suffix, j, j)
		end
	end
	e:open("for (int j = 0; j < TPF; j += NR) {")
	rows("", "j")
	e:close("}")
	if nt > 0 then
		e:line("/* The last %d tiles (and padding up to TP). */", nt)
		rows("_nt", "TPF")
	end
	e:close("}")
	e:line()
end

local function emit_fm_state(e)
	kernel.align_up(e)
	e:line("/* State: the bias (KP values), then U packed for stage 2, XI")
	e:line(" * matrices of KC floats, and U_PREFETCH floats that the prefetch")
	e:line(" * past the end of U may touch. */")
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)XI * KC + U_PREFETCH + KP + 2 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("/* The filter transform, once per weights: U into a temporary (XI")
	e:line(" * matrices of CP x KP), then each U_xi (KP x CP) packed in blocks")
	e:line(" * of MR filters (fewer in the last), channel by channel: the order")
	e:line(" * in which the register blocks read it. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("float *b = align_up(state);")
	e:line("float *packed = align_up(b + KP);")
	e:line("float *u = calloc((size_t)XI * KC, sizeof(float));")
	e:line("(void)d;")
	e:single("if (!u)", "return DP_ERR_NOMEM;")
	e:open("for (int k = 0; k < K; k++) {")
	e:single("for (int c = 0; c < C; c++)",
		"filter_tile(weights + ((ptrdiff_t)k * C + c) * R * R, u + (ptrdiff_t)c * KP + k);")
	e:close("}")
	e:open("for (int xi = 0; xi < XI; xi++) {")
	e:open("for (int k0 = 0; k0 < KP; k0 += MR) {")
	e:line("const int rows = KP - k0 < MR ? KP - k0 : MR;")
	e:line("float *dst = packed + xi * KC + (ptrdiff_t)k0 * CP;")
	e:single("for (int c = 0; c < CP; c++)", "for (int r = 0; r < rows; r++)")
	e.depth = e.depth + 2
	e:line("dst[c * rows + r] = u[xi * KC + (ptrdiff_t)c * KP + k0 + r];")
	e.depth = e.depth - 2
	e:close("}")
	e:close("}")
	e:line("free(u);")
	e:line("memset(b, 0, KP * sizeof(float));")
	e:single("if (bias)", "memcpy(b, bias, K * sizeof(float));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("/* Workspace, each part from a 64-byte boundary: the padded input,")
	e:line(" * V and M. */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return ((size_t)PADDED + XI * (CTP + KTP) + 3 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
end

-- Threads and execute -------------------------------------------------

-- The phases of execute(), one par_for each, over items that write
-- disjoint parts of the padded input, V, M and the output, each in an
-- order of operations that does not depend on the partition: results are
-- bitwise identical for any thread count.
local function emit_phases(e, pp, ops)
	local vt = pp.fm and "TP" or "T"   -- tiles in V and M (rows or columns)
	e:comment({
		"The work of each phase, for par_for's choice between the caller's",
		"thread alone and the pool (dpgen.h; the pool assumes ~50 GFLOP/s):",
		"the arithmetic operators of the emitted code, times the lanes, plus",
		"one per float loaded or stored (the pool counts copies as elements",
		"moved). The transforms move about as many floats as they compute and",
		"run well below 50 GFLOP/s, so these err on the serial side: a small",
		"layer stays on one thread. Per tile and 8 channels, the input",
		"transform is 2 ALPHA calls of input_1d, XI loads and XI stores; per",
		"tile and 8 filters the output transform is ALPHA + TILE calls of",
		"output_1d, XI loads and TILE^2 stores.",
	})
	e:line("enum { INPUT_1D_OPS = %d, OUTPUT_1D_OPS = %d };", ops.input, ops.output)
	e:line("static const double PAD_WORK = (double)HP * WP * CP + (double)C * H * W;")
	e:line("static const double INPUT_WORK = (double)%s * CP * (2 * ALPHA * INPUT_1D_OPS + 2 * XI);", vt)
	e:line("static const double PRODUCT_WORK = 2.0 * XI * %s * CP * KP;", vt)
	e:line("static const double OUTPUT_WORK =")
	e:line("	(double)%s * %s * ((ALPHA + TILE) * OUTPUT_1D_OPS + XI + TILE * TILE);",
		vt, pp.fm and "K" or "KP")
	e:line()
	e:line("/* One image's buffers, shared by the phases and their threads. */")
	e:line("struct image_job {")
	e:line("\tconst float *img;       /* the image, C x H x W */")
	e:line("\tfloat *p;               /* padded, channels-last: HP x WP x CP */")
	e:line("\tfloat *v, *m;           /* V and M: XI matrices each */")
	e:line("\tconst float *packed_u;  /* U, as prepare() packed it */")
	if pp.slots then
		e:line("\tfloat *packed_a;        /* SLICES slots of A_SLOT floats */")
	end
	e:line("\tconst float *bias;      /* KP values */")
	e:line("\tfloat *out;             /* the image's output, K x HO x WO */")
	e:line("};")
	e:line()

	e:line("/* 0. Padded rows [y0, y1). */")
	e:line("static void pad_items(void *ctx, int y0, int y1)")
	e:open("{")
	e:line("const struct image_job *job = ctx;")
	e:line("pad_rows(job->img, job->p, y0, y1);")
	e:close("}")
	e:line()

	if pp.fm then
		e:line("/* 1. Input transform, items of LANES tiles x LANES channels: item i")
		e:line(" *    is tiles LANES (i / (CP / LANES)) on, channels LANES (i % (CP /")
		e:line(" *    LANES)) on. */")
		e:line("static void input_items(void *ctx, int i0, int i1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:single("for (int i = i0; i < i1; i++)",
			"input_tiles(job->p, i / (CP / LANES) * LANES, i % (CP / LANES) * LANES, job->v);")
		e:close("}")
	else
		e:line("/* 1. Input transform of the tiles [t0, t1), LANES channels at a time. */")
		e:line("static void input_items(void *ctx, int t0, int t1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:single("for (int t = t0; t < t1; t++)", "for (int c0 = 0; c0 < CP; c0 += LANES)")
		e.depth = e.depth + 2
		e:line("input_tile(job->p, t / TILES_X * TILE, t % TILES_X * TILE, c0,")
		e:line("           job->v + (ptrdiff_t)t * CP + c0);")
		e.depth = e.depth - 2
		e:close("}")
	end
	e:line()

	if pp.fm then
		e:line("/* 2. The products M_xi = U_xi V_xi, (KP x CP)(CP x TP), xi in [xi0, xi1). */")
		e:line("static void product_items(void *ctx, int xi0, int xi1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:single("for (int xi = xi0; xi < xi1; xi++)",
			"product(job->packed_u + xi * KC, job->v + xi * CTP, job->m + xi * KTP);")
		e:close("}")
	elseif pp.slots then
		e:line("/* 2. The products M_xi^T = V_xi^T U_xi^T, (T x CP)(CP x KP), of the")
		e:line(" *    slices [s0, s1): slice s is xi = XI s / SLICES .. XI (s + 1) /")
		e:line(" *    SLICES - 1, and packs A into slot s of the workspace, so no two")
		e:line(" *    threads share scratch. Each GEMM runs on this thread alone (its")
		e:line(" *    own par_for, nested in this one, runs serially). */")
		e:line("static void product_items(void *ctx, int s0, int s1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:open("for (int s = s0; s < s1; s++) {")
		e:line("float *packed_a = job->packed_a + (ptrdiff_t)s * A_SLOT;")
		e:single("for (int xi = XI * s / SLICES; xi < XI * (s + 1) / SLICES; xi++)",
			"gemm_run(job->v + xi * CT, job->packed_u + (ptrdiff_t)xi * PACKED_B, job->m + xi * KT, packed_a);")
		e:close("}")
		e:close("}")
	else
		e:line("/* 2. The products M_xi^T = V_xi^T U_xi^T, (T x CP)(CP x KP), xi in")
		e:line(" *    [xi0, xi1). Each GEMM runs on this thread alone (its own par_for,")
		e:line(" *    nested in this one, runs serially); it packs nothing (A is read")
		e:line(" *    in place), so the products share no scratch. */")
		e:line("static void product_items(void *ctx, int xi0, int xi1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:single("for (int xi = xi0; xi < xi1; xi++)",
			"gemm_run(job->v + xi * CT, job->packed_u + (ptrdiff_t)xi * PACKED_B, job->m + xi * KT, NULL);")
		e:close("}")
	end
	e:line()

	if pp.fm then
		e:line("/* 3. Output transform, bias and crop of the filters [k0, k1), LANES")
		e:line(" *    tiles at a time. */")
		e:line("static void output_items(void *ctx, int k0, int k1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:single("for (int k = k0; k < k1; k++)", "for (int t0 = 0; t0 < T; t0 += LANES)")
		e.depth = e.depth + 2
		e:line("output_tile(job->m + (ptrdiff_t)k * TP + t0, job->bias[k], t0,")
		e:line("            job->out + (ptrdiff_t)k * HO * WO);")
		e.depth = e.depth - 2
		e:close("}")
	else
		e:line("/* 3. Output transform, bias and crop (the last tile row and column")
		e:line(" *    may be ragged). Item i is the tile row i / KG for the OUT_FILTERS")
		e:line(" *    filters from OUT_FILTERS (i % KG) on: it writes whole rows of its")
		e:line(" *    filters' planes and reads whole 64-byte lines of M. (Items of")
		e:line(" *    single tiles made the threads write the same cache lines, as")
		e:line(" *    tiles side by side share them, and scaled poorly.) */")
		e:line("enum { OUT_FILTERS = %d, KG = KP / OUT_FILTERS };", pp.out_filters)
		e:line()
		e:line("static void output_items(void *ctx, int i0, int i1)")
		e:open("{")
		e:line("const struct image_job *job = ctx;")
		e:open("for (int i = i0; i < i1; i++) {")
		e:line("const int ty = i / KG, kf = i % KG * OUT_FILTERS;")
		e:line("const int rows = HO - ty * TILE < TILE ? HO - ty * TILE : TILE;")
		e:open("for (int tx = 0; tx < TILES_X; tx++) {")
		e:line("const int t = ty * TILES_X + tx;")
		e:line("const int cols = WO - tx * TILE < TILE ? WO - tx * TILE : TILE;")
		e:single("for (int k0 = kf; k0 < kf + OUT_FILTERS; k0 += LANES)",
			"output_tile(job->m + (ptrdiff_t)t * KP + k0, job->bias, k0, job->out + ty * TILE * WO + tx * TILE, rows, cols);")
		e:close("}")
		e:close("}")
		e:close("}")
	end
	e:line()

	e:comment({
		"Each stage is one par_for over independent items; the pool runs it",
		"on this thread alone when its work is small. The products share out",
		"whole GEMMs rather than the panels inside each one: the XI products",
		"of a layer are small (C64 H56 F(6,3): 64 of 100 x 64 x 64, 0.8",
		"MFLOP each), below the pool's threshold one by one or split into",
		"many hand-offs, and the transforms around them stayed serial: two",
		"threads were 0.87-1.0x one on the C64 and C128 layers. With whole",
		"products (medians of interleaved calls in quiet spells of the",
		"shared 2-core machine; bench_threads_winograd): 1.6-1.8x on C64 H56",
		"and C128 H28 (F(4,3), F(6,3)), 1.75x on C256 H14, 1.8x on C512 H7;",
		"1.3-1.6x on C32 H28 5x5 (125 us) when the pool does not back off",
		"to one thread after a job that did not pay. XI is at least 4 when",
		"r > 1, enough to balance two threads; a lone product (F(1,1)) is a",
		"par_for of one item, which runs outside the pool, so the GEMM's own",
		"par_for may still share its panels.",
	})
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("struct image_job job;")
	e:line("job.bias = align_up(state);")
	e:line("job.packed_u = align_up(job.bias + KP);")
	e:line("job.p = align_up(workspace);")
	e:line("job.v = align_up(job.p + PADDED);")
	e:line("job.m = align_up(job.v + XI * C%s);", vt)
	if pp.slots then
		e:line("job.packed_a = align_up(job.m + XI * K%s);", vt)
	end
	e:line("(void)d;")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("job.img = input + (ptrdiff_t)n * C * H * W;")
	e:line("job.out = output + (ptrdiff_t)n * K * HO * WO;")
	e:line("par_for(HP, PAD_WORK, pad_items, &job);")
	if pp.fm then
		e:line("par_for(TP / LANES * (CP / LANES), INPUT_WORK, input_items, &job);")
		e:line("par_for(XI, PRODUCT_WORK, product_items, &job);")
		e:line("par_for(K, OUTPUT_WORK, output_items, &job);")
	else
		e:line("par_for(T, INPUT_WORK, input_items, &job);")
		e:line("par_for(%s, PRODUCT_WORK, product_items, &job);", pp.slots and "SLICES" or "XI")
		e:line("par_for(TILES_Y * KG, OUTPUT_WORK, output_items, &job);")
	end
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local alpha = d.tile + d.r - 1
	local w = CT.derive(d.tile, d.r, points_of(d, alpha))
	local e = emit.new()
	kernel.banner(e, d, name, string.format(
		"Winograd convolution F(%dx%d, %dx%d)", d.tile, d.tile, d.r, d.r))
	e:line("#include <stddef.h>")
	e:line("#include <stdint.h>")
	e:line("#include <stdlib.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:comment(matrix_comment(w))
	e:line()
	local tiles = ((d.ho + d.tile - 1) // d.tile) * ((d.wo + d.tile - 1) // d.tile)
	local kp = round_up(d.k, LANES)
	local pp = plan_products(tiles, kp)
	-- Padded rows that are all zero: above the image, or below it when
	-- the last tile row reaches past it.
	local hp = ((d.ho + d.tile - 1) // d.tile) * d.tile + d.r - 1
	pp.border_rows = d.pad_h > 0 or hp > d.pad_h + d.h
	-- Filters per item of the output transform: 16 (a 64-byte line of M)
	-- when they divide KP.
	pp.out_filters = kp % (2 * LANES) == 0 and 2 * LANES or LANES
	emit_constants(e, d, w, pp)
	if pp.fm then
		e:line("enum { ALIGN = 16 };   /* 64 bytes, in floats */")
		e:line()
		e:line("/* gcc contracts a * b + c into one FMA only when told to: in ISO C")
		e:line(" * mode its default is -ffp-contract=off (clang contracts by default). */")
		e:line("#if defined(__GNUC__) && !defined(__clang__)")
		e:line('#pragma GCC optimize("fp-contract=fast")')
		e:line("#endif")
		e:line()
		emit_fm_products(e, pp, kp)
		parallel.emit(e)
		local ops = emit_transforms(e, w, pp)
		emit_fm_state(e)
		emit_phases(e, pp, ops)
	else
		local spec = { name = "gemm", m = tiles, n = kp, k = round_up(d.c, LANES) }
		local packed_a = gemm.workspace_floats(spec)
		e:line("/* The GEMM's buffers, in floats. */")
		e:line("enum { PACKED_B = %d, ALIGN = %d };", gemm.packed_b_floats(spec),
			gemm.ALIGN_FLOATS)
		if packed_a > 0 then
			-- The products go to the threads in SLICES slices, each with
			-- a slot of packed A of its own: a few more slices than
			-- threads (the pool claims them in order, so a slow thread
			-- leaves its share to the others), and few enough slots that
			-- the workspace stays a few MiB.
			pp.slots = true
			e:line("/* The products in SLICES slices, each packing A into a slot of")
			e:line(" * A_SLOT floats (PACKED_A rounded up to 64 bytes) of its own. */")
			e:line("enum { PACKED_A = %d, A_SLOT = %d, SLICES = %d };", packed_a,
				round_up(packed_a, gemm.ALIGN_FLOATS),
				math.min(alpha * alpha, MAX_SLICES))
		end
		e:line()
		gemm.emit(e, spec)
		local ops = emit_transforms(e, w, pp)
		emit_state(e, pp)
		emit_phases(e, pp, ops)
	end
	kernel.object(e, d, name)
	return e:text()
end

return M
