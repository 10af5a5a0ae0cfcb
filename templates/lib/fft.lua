-- lib/fft.lua - generated FFT codelets: straight-line C for one size T.
--
-- API
--   local fft = require("lib.fft")
--   fft.emit(e, { t = T, ty = "vec" or "float", prefix = "fft",
--                 zero = "(vec){ 0 }" })
--     emits into emitter e (lib.emit): the twiddle constants as
--     `static const float` (once per prefix), then four static functions
--     (PRE = prefix, T the size, 8 <= T <= 64, a power of two):
--
--     void PRE_r2c(const ty *x, ptrdiff_t xs, ty *yr, ty *yi, ptrdiff_t ys)
--         forward real DFT: x[j * xs], j < T, to X_k = sum_j x_j w^(jk),
--         w = exp(-2 pi i / T), k = 0 .. T/2, as yr[k * ys] + i yi[k * ys]
--         (yi[0] and yi[T/2 * ys] are written as zero). X_(T-k) =
--         conj(X_k) is never computed.
--     void PRE_c2r(const ty *xr, const ty *xi, ptrdiff_t xs, ty *y,
--                  ptrdiff_t ys)
--         inverse real DFT, unnormalized: X_k (k = 0 .. T/2, the imaginary
--         parts of X_0 and X_(T/2) are ignored, as a Hermitian spectrum
--         has none) to y[j * ys] = sum_(k < T) X_k w^(-jk), i.e. T times
--         the input of PRE_r2c. The caller owns the 1/T.
--     void PRE_fwd(const ty *xr, const ty *xi, ptrdiff_t xs,
--                  ty *yr, ty *yi, ptrdiff_t ys)
--     void PRE_inv(...same...)
--         complex DFT of size T, forward (w) and inverse unnormalized
--         (w^-1), split real/imaginary arrays; the column pass of a 2-D
--         transform. All inputs are loaded before any output is stored,
--         so in-place calls (y == x, same stride) are allowed.
--   fft.op_count(T) -> adds, muls of the four codelets (for comments/tests).
--   fft.op_counts(T) -> { r2c = n, c2r = n, fwd = n, inv = n }: additions
--                       plus multiplications of each codelet, per call and
--                       lane (the callers' work estimates for threads).
--
-- With ty = "vec" (a GCC/Clang vector of floats, typedef'd by the caller)
-- every lane is an independent transform: the code is the same.
--
-- Algorithm. Complex transforms are split radix (Duhamel and Hollmann):
-- X = DFT_(n/2)(x_2j) combined with w^k DFT_(n/4)(x_(4j+1)) and
-- w^(3k) DFT_(n/4)(x_(4j+3)); it needs fewer operations than radix 2 or 4.
-- Multiplications by 1 are not emitted, by +-i become swapped adds, by
-- exp(+-i pi/4) and its odd multiples take two adds and two multiplies,
-- the rest four multiplies and two adds. A real transform of size T is
-- one complex transform of size T/2 on z_j = x_2j + i x_(2j+1) followed
-- by one post-processing butterfly per pair (k, T/2 - k) (and the reverse
-- for the inverse): half the work of a complex transform, nothing twice.
-- Twiddle factors are computed here in double and written as float
-- literals (nine significant digits: the nearest float); no trigonometry
-- runs in the generated code. Every operation is one `const` temporary,
-- so the C compiler schedules and allocates registers freely.
local M = {}

-- Twiddle constants -----------------------------------------------------

-- The name of a constant: its value's leading digits, as FFTW does
-- (KP707106781 = 0.707106781...); "KM" for a negative one.
local function const_name(v)
	local s = string.format("%.9f", math.abs(v))
	local digits = s:gsub("^0%.", ""):gsub("%.", "")
	return (v < 0 and "KM" or "KP") .. digits
end

local function literal(v)
	local s = string.format("%.9g", v)
	if not s:find("[%.e]") then s = s .. ".0" end
	return s .. "f"
end

-- A code context: the emitter, the element type, a temporary counter, and
-- the constants used (name -> value).
local function new_ctx(e, ty, consts)
	return { e = e, ty = ty, n = 0, consts = consts }
end

local function k(ctx, v)
	local nm = const_name(v)
	ctx.consts[nm] = v
	return nm
end

-- A fresh temporary holding expr.
local function tmp(ctx, expr)
	ctx.n = ctx.n + 1
	local nm = "t" .. ctx.n
	ctx.e:line("const %s %s = %s;", ctx.ty, nm, expr)
	return nm
end

local function cadd(ctx, a, b)
	return { r = tmp(ctx, a.r .. " + " .. b.r), i = tmp(ctx, a.i .. " + " .. b.i) }
end

local function csub(ctx, a, b)
	return { r = tmp(ctx, a.r .. " - " .. b.r), i = tmp(ctx, a.i .. " - " .. b.i) }
end

-- a * exp(sigma 2 pi i j / n), sigma = -1 (forward) or +1 (inverse).
local function twiddle(ctx, a, j, n, sigma)
	j = j % n
	if j == 0 then return a end
	if (8 * j) % n == 0 then
		local oct = 8 * j // n
		local h = k(ctx, math.sqrt(0.5))
		-- exp(sigma i pi/4) = h (1 + sigma i):
		--   re = h (a.r - sigma a.i), im = h (sigma a.r + a.i)
		if oct == 1 and sigma < 0 then
			return { r = tmp(ctx, string.format("%s * (%s + %s)", h, a.r, a.i)),
				i = tmp(ctx, string.format("%s * (%s - %s)", h, a.i, a.r)) }
		elseif oct == 1 then
			return { r = tmp(ctx, string.format("%s * (%s - %s)", h, a.r, a.i)),
				i = tmp(ctx, string.format("%s * (%s + %s)", h, a.r, a.i)) }
		end
		-- exp(sigma 3 i pi/4) = h (-1 + sigma i):
		--   re = -h (a.r + sigma a.i), im = h (sigma a.r - a.i)
		if oct == 3 then
			local mh = k(ctx, -math.sqrt(0.5))
			if sigma < 0 then
				return { r = tmp(ctx, string.format("%s * (%s - %s)", h, a.i, a.r)),
					i = tmp(ctx, string.format("%s * (%s + %s)", mh, a.r, a.i)) }
			end
			return { r = tmp(ctx, string.format("%s * (%s + %s)", mh, a.r, a.i)),
				i = tmp(ctx, string.format("%s * (%s - %s)", h, a.r, a.i)) }
		end
	end
	local ang = 2 * math.pi * j / n
	local c, s = math.cos(ang), sigma * math.sin(ang)
	local kc, ks = k(ctx, c), k(ctx, math.abs(s))
	-- (a.r + i a.i)(c + i s) = (a.r c - a.i s) + i (a.r s + a.i c)
	if s >= 0 then
		return { r = tmp(ctx, string.format("%s * %s - %s * %s", a.r, kc, a.i, ks)),
			i = tmp(ctx, string.format("%s * %s + %s * %s", a.r, ks, a.i, kc)) }
	end
	return { r = tmp(ctx, string.format("%s * %s + %s * %s", a.r, kc, a.i, ks)),
		i = tmp(ctx, string.format("%s * %s - %s * %s", a.i, kc, a.r, ks)) }
end

-- Split-radix DFT of the complex values x[1..n] (1-based list), sign
-- sigma; returns the n outputs, X[1] = X_0.
local function split_radix(ctx, x, sigma)
	local n = #x
	if n == 1 then return { x[1] } end
	if n == 2 then return { cadd(ctx, x[1], x[2]), csub(ctx, x[1], x[2]) } end
	local ev, o1, o3 = {}, {}, {}
	for j = 0, n - 1 do
		if j % 2 == 0 then ev[#ev + 1] = x[j + 1]
		elseif j % 4 == 1 then o1[#o1 + 1] = x[j + 1]
		else o3[#o3 + 1] = x[j + 1] end
	end
	local U = split_radix(ctx, ev, sigma)
	local Z1 = split_radix(ctx, o1, sigma)
	local Z3 = split_radix(ctx, o3, sigma)
	local X, q = {}, n // 4
	for kk = 0, q - 1 do
		local a = twiddle(ctx, Z1[kk + 1], kk, n, sigma)
		local b = twiddle(ctx, Z3[kk + 1], 3 * kk, n, sigma)
		local s, d = cadd(ctx, a, b), csub(ctx, a, b)
		X[kk + 1] = cadd(ctx, U[kk + 1], s)
		X[kk + 2 * q + 1] = csub(ctx, U[kk + 1], s)
		-- X_(k + n/4) = U_(k + n/4) + sigma i d, X_(k + 3n/4) = ... - sigma i d;
		-- i d = (-d.i, d.r): a swap of the adds, no multiply.
		local u = U[kk + q + 1]
		if sigma < 0 then
			X[kk + q + 1] = { r = tmp(ctx, u.r .. " + " .. d.i), i = tmp(ctx, u.i .. " - " .. d.r) }
			X[kk + 3 * q + 1] = { r = tmp(ctx, u.r .. " - " .. d.i), i = tmp(ctx, u.i .. " + " .. d.r) }
		else
			X[kk + q + 1] = { r = tmp(ctx, u.r .. " - " .. d.i), i = tmp(ctx, u.i .. " + " .. d.r) }
			X[kk + 3 * q + 1] = { r = tmp(ctx, u.r .. " + " .. d.i), i = tmp(ctx, u.i .. " - " .. d.r) }
		end
	end
	return X
end

local function idx(i, stride)
	if i == 0 then return "0" end
	if i == 1 then return stride end
	return string.format("%d * %s", i, stride)
end

-- Function heads ----------------------------------------------------------

local function head(e, name, params)
	local first = string.format("static void %s(", name)
	e:line("%s%s,", first, params[1])
	local pad = string.rep(" ", #first)
	for i = 2, #params do
		e:line("%s%s%s", pad, params[i], i == #params and ")" or ",")
	end
end

local function emit_complex(ctx, name, T, sigma)
	local e, ty = ctx.e, ctx.ty
	e:line("/* Complex DFT of size %d, %s: y_k = sum_j x_j exp(%s2 pi i jk / %d). */",
		T, sigma < 0 and "forward" or "inverse, unnormalized",
		sigma < 0 and "-" or "+", T)
	head(e, name, { string.format("const %s *xr", ty), string.format("const %s *xi", ty),
		"ptrdiff_t xs", string.format("%s *yr", ty), string.format("%s *yi", ty), "ptrdiff_t ys" })
	e:open("{")
	local x = {}
	for j = 0, T - 1 do
		local r, i = "xr" .. j, "xi" .. j
		e:line("const %s %s = xr[%s], %s = xi[%s];", ty, r, idx(j, "xs"), i, idx(j, "xs"))
		x[j + 1] = { r = r, i = i }
	end
	local X = split_radix(ctx, x, sigma)
	for kk = 0, T - 1 do
		e:line("yr[%s] = %s;", idx(kk, "ys"), X[kk + 1].r)
		e:line("yi[%s] = %s;", idx(kk, "ys"), X[kk + 1].i)
	end
	e:close("}")
	e:line()
end

local function emit_r2c(ctx, name, T, zero)
	local e, ty, m = ctx.e, ctx.ty, T // 2
	e:line("/* Real DFT of size %d: X_k = sum_j x_j exp(-2 pi i jk / %d), k = 0..%d,", T, T, m)
	e:line(" * through one complex DFT of size %d of z_j = x_2j + i x_2j+1:", m)
	e:line(" * X_k = (Z_k + conj Z_(%d-k)) / 2 + w^k (Z_k - conj Z_(%d-k)) / 2i. */", m, m)
	head(e, name, { string.format("const %s *x", ty), "ptrdiff_t xs",
		string.format("%s *yr", ty), string.format("%s *yi", ty), "ptrdiff_t ys" })
	e:open("{")
	local z = {}
	for j = 0, m - 1 do
		e:line("const %s x%d = x[%s], x%d = x[%s];", ty, 2 * j, idx(2 * j, "xs"),
			2 * j + 1, idx(2 * j + 1, "xs"))
		z[j + 1] = { r = "x" .. 2 * j, i = "x" .. (2 * j + 1) }
	end
	local Z = split_radix(ctx, z, -1)
	local out = {}
	-- k = 0 and k = m: both real.
	out[0] = { r = tmp(ctx, Z[1].r .. " + " .. Z[1].i), i = zero }
	out[m] = { r = tmp(ctx, Z[1].r .. " - " .. Z[1].i), i = zero }
	-- k = m/2: X = conj(Z_(m/2)).
	out[m // 2] = { r = Z[m // 2 + 1].r, i = tmp(ctx, "-" .. Z[m // 2 + 1].i) }
	for kk = 1, m // 2 - 1 do
		local a, b = Z[kk + 1], Z[m - kk + 1]
		-- S = a + conj b, D = a - conj b; X_k = S/2 + (w^k / 2)(D / i).
		local sr = tmp(ctx, a.r .. " + " .. b.r)
		local si = tmp(ctx, a.i .. " - " .. b.i)
		local dr = tmp(ctx, a.r .. " - " .. b.r)
		local di = tmp(ctx, a.i .. " + " .. b.i)
		local ang = 2 * math.pi * kk / T
		local hc, hs = k(ctx, 0.5 * math.cos(ang)), k(ctx, 0.5 * math.sin(ang))
		local half = k(ctx, 0.5)
		-- (c - i sn)(di - i dr) / 2 = (c di - sn dr)/2 - i (sn di + c dr)/2
		local tr = tmp(ctx, string.format("%s * %s - %s * %s", di, hc, dr, hs))
		local ti = tmp(ctx, string.format("%s * %s + %s * %s", di, hs, dr, hc))
		local pr = tmp(ctx, string.format("%s * %s", half, sr))
		local pi = tmp(ctx, string.format("%s * %s", half, si))
		-- X_k = (pr + tr) + i (pi - ti); X_(m-k) = conj(S/2 - t) = (pr - tr) + i (-ti - pi)
		out[kk] = { r = tmp(ctx, pr .. " + " .. tr), i = tmp(ctx, pi .. " - " .. ti) }
		out[m - kk] = { r = tmp(ctx, pr .. " - " .. tr), i = tmp(ctx, string.format("-(%s + %s)", ti, pi)) }
	end
	for kk = 0, m do
		e:line("yr[%s] = %s;", idx(kk, "ys"), out[kk].r)
		e:line("yi[%s] = %s;", idx(kk, "ys"), out[kk].i)
	end
	e:close("}")
	e:line()
end

local function emit_c2r(ctx, name, T)
	local e, ty, m = ctx.e, ctx.ty, T // 2
	e:line("/* Inverse real DFT of size %d, unnormalized: y_j = sum_(k<%d) X_k", T, T)
	e:line(" * exp(2 pi i jk / %d) for the Hermitian X given by X_0..X_%d; one", T, m)
	e:line(" * complex inverse DFT of size %d of Z'_k = (X_k + conj X_(%d-k))", m, m)
	e:line(" * + i w^-k (X_k - conj X_(%d-k)) gives y_2j + i y_2j+1. */", m)
	head(e, name, { string.format("const %s *xr", ty), string.format("const %s *xi", ty),
		"ptrdiff_t xs", string.format("%s *y", ty), "ptrdiff_t ys" })
	e:open("{")
	local X = {}
	for kk = 0, m do
		if kk == 0 or kk == m then
			e:line("const %s xr%d = xr[%s];", ty, kk, idx(kk, "xs"))
		else
			e:line("const %s xr%d = xr[%s], xi%d = xi[%s];", ty, kk, idx(kk, "xs"),
				kk, idx(kk, "xs"))
		end
		X[kk] = { r = "xr" .. kk, i = "xi" .. kk }
	end
	e:line("(void)xi;")
	local Z = {}
	Z[1] = { r = tmp(ctx, X[0].r .. " + " .. X[m].r), i = tmp(ctx, X[0].r .. " - " .. X[m].r) }
	local two, mtwo = k(ctx, 2.0), k(ctx, -2.0)
	Z[m // 2 + 1] = { r = tmp(ctx, string.format("%s * %s", two, X[m // 2].r)),
		i = tmp(ctx, string.format("%s * %s", mtwo, X[m // 2].i)) }
	for kk = 1, m // 2 - 1 do
		local a, b = X[kk], X[m - kk]
		local sr = tmp(ctx, a.r .. " + " .. b.r)
		local si = tmp(ctx, a.i .. " - " .. b.i)
		local dr = tmp(ctx, a.r .. " - " .. b.r)
		local di = tmp(ctx, a.i .. " + " .. b.i)
		local ang = 2 * math.pi * kk / T
		local kc, ks = k(ctx, math.cos(ang)), k(ctx, math.sin(ang))
		-- u = w^-k D = (c + i sn)(dr + i di)
		local ur = tmp(ctx, string.format("%s * %s - %s * %s", dr, kc, di, ks))
		local ui = tmp(ctx, string.format("%s * %s + %s * %s", dr, ks, di, kc))
		-- Z'_k = S + i u, Z'_(m-k) = conj S + i conj u
		Z[kk + 1] = { r = tmp(ctx, sr .. " - " .. ui), i = tmp(ctx, si .. " + " .. ur) }
		Z[m - kk + 1] = { r = tmp(ctx, sr .. " + " .. ui), i = tmp(ctx, ur .. " - " .. si) }
	end
	local z = split_radix(ctx, Z, 1)
	for j = 0, m - 1 do
		e:line("y[%s] = %s;", idx(2 * j, "ys"), z[j + 1].r)
		e:line("y[%s] = %s;", idx(2 * j + 1, "ys"), z[j + 1].i)
	end
	e:close("}")
	e:line()
end

-- Counts of + - and * in a block of emitted lines (for the comment).
local function count_ops(lines)
	local adds, muls = 0, 0
	for _, l in ipairs(lines) do
		local rhs = l:match("^%s*const [%w_]+ t%d+ = (.*);$")
		if rhs then
			for _ in rhs:gmatch(" [%+%-] ") do adds = adds + 1 end
			for _ in rhs:gmatch("%*") do muls = muls + 1 end
			if rhs:match("^%-") then adds = adds + 1 end   -- a negation
		end
	end
	return adds, muls
end

local function build(T, ty, prefix, zero)
	assert(T >= 8 and T <= 64 and (T & (T - 1)) == 0,
		"fft: size must be a power of two from 8 to 64, got " .. tostring(T))
	local emit = require("lib.emit")
	local consts, parts = {}, {}
	local function part(fn, ...)
		local sub = emit.new()
		fn(new_ctx(sub, ty, consts), ...)
		parts[#parts + 1] = sub
	end
	part(emit_r2c, prefix .. "_r2c", T, zero)
	part(emit_c2r, prefix .. "_c2r", T)
	part(emit_complex, prefix .. "_fwd", T, -1)
	part(emit_complex, prefix .. "_inv", T, 1)
	return consts, parts
end

function M.op_count(T)
	local _, parts = build(T, "float", "f", "0.0f")
	local adds, muls = 0, 0
	for _, p in ipairs(parts) do
		local a, m = count_ops(p.lines)
		adds, muls = adds + a, muls + m
	end
	return adds, muls
end

function M.op_counts(T)
	local _, parts = build(T, "float", "f", "0.0f")
	local counts = {}
	for i, which in ipairs({ "r2c", "c2r", "fwd", "inv" }) do
		local a, m = count_ops(parts[i].lines)
		counts[which] = a + m
	end
	return counts
end

function M.emit(e, spec)
	local T, ty, prefix = spec.t, spec.ty or "float", spec.prefix or "fft"
	local zero = spec.zero or (ty == "float" and "0.0f" or string.format("(%s){ 0 }", ty))
	local consts, parts = build(T, ty, prefix, zero)
	local names = {}
	for nm in pairs(consts) do names[#names + 1] = nm end
	table.sort(names)
	e:line("/* Twiddle factors of the size-%d codelets: cos and sin of multiples", T)
	e:line(" * of 2 pi / %d (halved where the real-input butterfly needs it), each", T)
	e:line(" * the float nearest the value computed in double by the generator. */")
	for _, nm in ipairs(names) do
		e:line("static const float %s_%s = %s;", prefix, nm, literal(consts[nm]))
	end
	e:line()
	for _, p in ipairs(parts) do
		local a, m = count_ops(p.lines)
		e:line("/* %d additions, %d multiplications. */", a, m)
		for _, l in ipairs(p.lines) do
			-- Constants are file-scope and carry the prefix.
			local text = l:gsub("(K[PM]%d+)", prefix .. "_%1")
			e.lines[#e.lines + 1] = text == "" and "" or
				string.rep("\t", e.depth) .. text
		end
	end
end

return M
