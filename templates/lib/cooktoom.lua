-- lib/cooktoom.lua - exact Winograd / Cook-Toom transforms F(m, r).
--   local CT = require("lib.cooktoom")
--   local w = CT.derive(2, 3, { "0", "1", "-1" })
--   -- w.AT (m x alpha), w.G (alpha x r), w.BT (alpha x alpha), w.alpha
-- Matrices are Lua arrays of rows (1-based), entries are lib.rational values.
--
-- What the matrices compute (correlation, as in CNNs; no kernel flip):
--   y[i] = sum_{j<r} d[i+j] * g[j],  i < m,  d of length alpha = m + r - 1
--   y = AT * ( (G * g) .* (BT * d) )
-- and in 2-D, with A = AT^T and B = BT^T, the nesting
--   Y = AT * [ (G * g * G^T) .* (BT * d * B) ] * A.
--
-- Derivation.  Write h(x) = sum_{i<m} h_i x^i and g(x) = sum_{j<r} g_j x^j.
-- Their product s(x) = h(x) g(x) has degree alpha - 1, i.e. alpha
-- coefficients s_t = sum_{i+j=t} h_i g_j (the linear convolution).
-- Cook-Toom: evaluate at alpha "points" and interpolate.  We take alpha - 1
-- distinct finite points p_k plus the point at infinity, whose "value" is
-- the leading coefficient: s_inf = h_{m-1} g_{r-1}.  Lagrange form with
--   N_k(x) = prod_{l != k} (x - p_l)   (degree alpha - 2, monic)
--   D_k    = N_k(p_k) = prod_{l != k} (p_k - p_l)   (nonzero: distinct points)
--   P(x)   = prod_l (x - p_l)          (degree alpha - 1, monic)
-- gives
--   s(x) = sum_k h(p_k) g(p_k) N_k(x) / D_k  +  h_{m-1} g_{r-1} P(x),
-- because both sides agree at every p_k (P and N_l, l != k, vanish there)
-- and have the same x^(alpha-1) coefficient (only P reaches that degree);
-- a polynomial of degree alpha - 1 is fixed by those alpha numbers.
-- In matrices: s = W [ (E h) .* (G g) ] where
--   E (alpha x m): row k = (1, p_k, ..., p_k^(m-1)), infinity row e_{m-1}
--   G (alpha x r): row k = (1, p_k, ..., p_k^(r-1)) / D_k, infinity e_{r-1}
--   W (alpha x alpha): column k = coefficients of N_k, infinity column P.
-- That is the linear-convolution algorithm.  The correlation is its
-- transpose (Winograd's "modified"/transposed algorithm): for any d,
--   sum_t d_t s_t = sum_{i,j} d_{i+j} h_i g_j = sum_i h_i y_i
-- and the left side is d^T W [(E h) .* (G g)] = h^T E^T [(G g) .* (W^T d)],
-- so y = E^T [ (G g) .* (W^T d) ]:   AT = E^T,   BT = W^T.
--
-- Scaling convention.  For each of the alpha products one may rescale the
-- AT column, G row and BT row by factors whose product is 1.  We keep the
-- natural form above (AT = powers, BT rows monic, 1/D_k in G) except for
-- signs of two rows: the row of the point 0 and the infinity row are
-- negated where needed so that the lowest-order nonzero coefficient of
-- their BT row is positive (compensated in G for the point 0, in AT for
-- infinity).  Both flips happen exactly when D_0 < 0.  This is the
-- convention of Lavin & Gray (2015): F(2,3) with points {0, 1, -1} gives
--   AT = [1 1 1 0; 0 1 -1 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
--   BT = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
-- and F(4,3) with {0, 1, -1, 2, -2} also reproduces the paper's matrices.
local Q = require("lib.rational")

local M = {}

M.MAX_ALPHA = 16

local function fail(fmt, ...)
	error("cooktoom." .. string.format(fmt, ...), 0)
end

-- 0, 1, -1, then for k = 2, 3, ...: k, -1/k, 1/k, -k. Small magnitudes
-- first, and each k paired with a reciprocal of the other sign, which
-- keeps the transforms well conditioned when the count is odd: the
-- precision study (make study-precision, docs/data/precision_points.csv)
-- measured F(4,3) and F(2,5) with 0, 1, -1, 2, -1/2 at 0.80-0.86x the
-- error of Lavin and Gray's 0, 1, -1, 2, -2 in fp32, bf16 and fp16, and
-- 0.3-0.4x in int8; for an even count (F(6,3), F(4,5)) the set is the
-- same as theirs, which measured best.
function M.default_points(n)
	local pts = { Q.new(0), Q.new(1), Q.new(-1) }
	local k = 2
	while #pts < n do
		pts[#pts + 1] = Q.new(k)
		pts[#pts + 1] = Q.new(-1, k)
		pts[#pts + 1] = Q.new(1, k)
		pts[#pts + 1] = Q.new(-k)
		k = k + 1
	end
	for i = #pts, n + 1, -1 do pts[i] = nil end
	return pts
end

-- Matrices -------------------------------------------------------------

local function new_matrix(rows, cols)
	local a = {}
	for i = 1, rows do
		a[i] = {}
		for j = 1, cols do a[i][j] = Q.zero end
	end
	return a
end

local function transpose(a)
	local t = new_matrix(#a[1], #a)
	for i = 1, #a do
		for j = 1, #a[1] do t[j][i] = a[i][j] end
	end
	return t
end

-- Rows as "[ 1  0  -1/2 ]" with columns right-aligned.
function M.matrix_tostring(a, name)
	local cells, width = {}, 1
	for i, row in ipairs(a) do
		cells[i] = {}
		for j, v in ipairs(row) do
			cells[i][j] = Q.tostring(v)
			width = math.max(width, #cells[i][j])
		end
	end
	local out = {}
	if name then out[1] = string.format("%s (%dx%d):", name, #a, #(a[1] or {})) end
	for _, row in ipairs(cells) do
		for j, s in ipairs(row) do row[j] = string.rep(" ", width - #s) .. s end
		out[#out + 1] = "[ " .. table.concat(row, " ") .. " ]"
	end
	return table.concat(out, "\n")
end

-- Polynomials: arrays of rational coefficients, [1] is the x^0 term -------

-- poly * (x - root)
local function mul_linear(poly, root)
	local out = {}
	for i = 1, #poly + 1 do
		local shifted = poly[i - 1] or Q.zero    -- x * poly
		local scaled = poly[i] and poly[i] * root or Q.zero
		out[i] = shifted - scaled
	end
	return out
end

-- prod over l != skip of (x - pts[l]); skip may be nil.
local function product_except(pts, skip)
	local poly = { Q.one }
	for l, p in ipairs(pts) do
		if l ~= skip then poly = mul_linear(poly, p) end
	end
	return poly
end

local function padded(poly, n)
	local out = {}
	for i = 1, n do out[i] = poly[i] or Q.zero end
	return out
end

local function lowest_nonzero(row)
	for _, v in ipairs(row) do
		if not Q.iszero(v) then return v end
	end
	return Q.zero
end

-- Argument checks ------------------------------------------------------

local function check_size(name, v)
	if math.type(v) ~= "integer" or v < 1 then
		fail("derive: %s must be an integer >= 1 (got %s)", name, tostring(v))
	end
end

-- Validates m, r, points; returns the points as rationals.
local function validated_points(m, r, points)
	check_size("m", m)
	check_size("r", r)
	local alpha = m + r - 1
	if alpha > M.MAX_ALPHA then
		fail("derive: F(%d,%d) has alpha = m + r - 1 = %d, more than the maximum %d",
			m, r, alpha, M.MAX_ALPHA)
	end
	if points == nil then return M.default_points(alpha - 1) end
	if type(points) ~= "table" then
		fail("derive: points must be a list (got %s)", type(points))
	end
	if #points ~= alpha - 1 then
		fail("derive: F(%d,%d) needs alpha - 1 = %d finite points (infinity is implied), got %d",
			m, r, alpha - 1, #points)
	end
	local pts = {}
	for k, p in ipairs(points) do
		local ok, v = pcall(Q.from, p)
		if not ok then fail("derive: points[%d]: %s", k, v) end
		for l = 1, k - 1 do
			if Q.eq(pts[l], v) then
				fail("derive: duplicate point %s (points[%d] and points[%d]); points must be distinct",
					Q.tostring(v), l, k)
			end
		end
		pts[k] = v
	end
	return pts
end

-- Construction ---------------------------------------------------------

-- E (alpha x m), G (alpha x r) and W^T (alpha x alpha) as in the header.
local function build(m, r, pts)
	local alpha = m + r - 1
	local E, G, BT = new_matrix(alpha, m), new_matrix(alpha, r), {}
	for k, p in ipairs(pts) do
		local Nk = product_except(pts, k)
		local Dk = Q.one
		for l, q in ipairs(pts) do
			if l ~= k then Dk = Dk * (p - q) end
		end
		for i = 1, m do E[k][i] = Q.pow(p, i - 1) end
		for j = 1, r do G[k][j] = Q.pow(p, j - 1) / Dk end
		BT[k] = padded(Nk, alpha)
	end
	E[alpha][m] = Q.one
	G[alpha][r] = Q.one
	BT[alpha] = padded(product_except(pts, nil), alpha)
	return E, G, BT
end

-- Sign convention (see header): point 0 row flips with G, infinity with AT.
local function normalize_signs(E, G, BT, pts)
	local alpha = #BT
	for k, p in ipairs(pts) do
		if Q.iszero(p) and Q.sign(lowest_nonzero(BT[k])) < 0 then
			for t = 1, alpha do BT[k][t] = -BT[k][t] end
			for j = 1, #G[k] do G[k][j] = -G[k][j] end
		end
	end
	if Q.sign(lowest_nonzero(BT[alpha])) < 0 then
		for t = 1, alpha do BT[alpha][t] = -BT[alpha][t] end
		for i = 1, #E[alpha] do E[alpha][i] = -E[alpha][i] end
	end
end

-- derive(m, r [, points]) -> { AT, G, BT, alpha, m, r, points }.
-- points: alpha - 1 distinct finite rationals (strings "p/q", integers or
-- rationals); defaults to default_points(alpha - 1).  The result is
-- verified exactly with check() before it is returned.
function M.derive(m, r, points)
	local pts = validated_points(m, r, points)
	local E, G, BT = build(m, r, pts)
	normalize_signs(E, G, BT, pts)
	local mats = { AT = transpose(E), G = G, BT = BT, alpha = m + r - 1,
		m = m, r = r, points = pts }
	local ok, msg = M.check(mats, m, r)
	if not ok then fail("derive: F(%d,%d) failed verification: %s", m, r, msg) end
	return mats
end

-- Verification ---------------------------------------------------------

local function shape_error(a, name, rows, cols)
	if type(a) ~= "table" or #a ~= rows then
		return string.format("%s must have %d rows", name, rows)
	end
	for i, row in ipairs(a) do
		if type(row) ~= "table" or #row ~= cols then
			return string.format("%s row %d must have %d columns", name, i, cols)
		end
	end
	return nil
end

-- The bilinear map (g, d) -> AT ((G g) .* (BT d)) on the basis pair
-- (e_j, e_t) is sum_k AT[i][k] G[k][j] BT[k][t] for each output i; the
-- correlation of those basis vectors is 1 where t == i + j, else 0.
-- Matching on every basis pair proves the identity for all inputs.
local function check_basis(mats, m, r)
	local alpha = m + r - 1
	for i = 1, m do
		for j = 1, r do
			for t = 1, alpha do
				local sum = Q.zero
				for k = 1, alpha do
					sum = sum + Q.from(mats.AT[i][k]) * Q.from(mats.G[k][j]) * Q.from(mats.BT[k][t])
				end
				local want = (t - 1 == (i - 1) + (j - 1)) and 1 or 0
				if not Q.eq(sum, want) then
					return string.format("y[%d] for g = e_%d, d = e_%d is %s, expected %d",
						i - 1, j - 1, t - 1, Q.tostring(sum), want)
				end
			end
		end
	end
	return nil
end

-- check(mats, m, r) -> true, or false and a message.
function M.check(mats, m, r)
	local alpha = m + r - 1
	local err = shape_error(mats.AT, "AT", m, alpha)
		or shape_error(mats.G, "G", alpha, r)
		or shape_error(mats.BT, "BT", alpha, alpha)
	if err then return false, err end
	local ok, msg = pcall(check_basis, mats, m, r)
	if not ok then return false, "cannot evaluate: " .. tostring(msg) end
	if msg then return false, msg end
	return true
end

return M
