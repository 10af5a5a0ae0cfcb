-- t_cooktoom.lua - TAP test of lib.rational and lib.cooktoom.
-- Run by tests/t_cooktoom.c, which sets package.path to the templates.
-- The global table `tap` (count, failed) is read back by the C host.
local Q = require("lib.rational")
local CT = require("lib.cooktoom")

tap = { count = 0, failed = 0 }

local function ok(cond, name)
	tap.count = tap.count + 1
	if not cond then tap.failed = tap.failed + 1 end
	print(string.format("%s %d - %s", cond and "ok" or "not ok", tap.count, name))
	return cond
end

local function diag(s)
	print("# " .. tostring(s):gsub("\n", "\n# "))
end

local function is(got, want, name)
	if not ok(got == want, name) then
		diag("got:  " .. tostring(got))
		diag("want: " .. tostring(want))
	end
end

-- fn must raise an error whose message contains `pattern` (plain text).
local function raises(fn, pattern, name)
	local okcall, err = pcall(fn)
	local good = not okcall and tostring(err):find(pattern, 1, true) ~= nil
	if not ok(good, name) then
		diag(okcall and "no error raised" or ("error was: " .. tostring(err)))
	end
end

local S = Q.tostring

-- Rational arithmetic ----------------------------------------------------

local function test_rational()
	local third, sixth = Q.new(1, 3), Q.from("1/6")
	is(S(third + sixth), "1/2", "1/3 + 1/6 = 1/2")
	is(S(Q.new(-2, 4)), "-1/2", "-2/4 normalizes to -1/2")
	is(S(Q.new(2, -4)), "-1/2", "2/-4 normalizes to -1/2 (positive denominator)")
	is(S(Q.from("-2/4")), "-1/2", "from(\"-2/4\") = -1/2")
	is(S(Q.from(" 6 / 3 ")), "2", "from(\" 6 / 3 \") = 2")
	is(S(Q.from("-3/2")), "-3/2", "tostring -3/2")
	is(S(Q.from(-1)), "-1", "tostring -1")
	is(S(Q.new(0, 5)), "0", "tostring 0/5 = 0")
	is(S(Q.from(3.0)), "3", "from integral float")
	is(S(Q.new(3, 4) * Q.new(2, 3)), "1/2", "3/4 * 2/3 = 1/2")
	is(S(Q.new(1, 2) / Q.new(1, 4)), "2", "(1/2) / (1/4) = 2")
	is(S(Q.new(1, 2) - Q.new(5, 6)), "-1/3", "1/2 - 5/6 = -1/3")
	is(S(-Q.new(3, 2)), "-3/2", "unary minus")
	is(S(Q.sub(1, "1/4")), "3/4", "sub with integer and string operands")
	is(S(Q.new(1, 2) + 1), "3/2", "operator + with an integer operand")
	ok(Q.new(2, 4) == Q.new(1, 2), "== on normalized values")
	ok(Q.new(1, 3) < Q.new(1, 2) and Q.new(-1, 2) < Q.new(1, 3), "< orders rationals")
	ok(Q.iszero(Q.new(0, 7)) and Q.isone(Q.new(4, 4)) and Q.isminusone(Q.new(3, -3)),
		"iszero / isone / isminusone")
	ok(not Q.isone(Q.new(-1)) and not Q.isminusone(Q.new(1)) and not Q.iszero(Q.new(1, 9)),
		"predicates reject other values")
	local big = math.maxinteger
	is(S(Q.new(1 << 62) + Q.new((1 << 62) - 1)), tostring(big), "2^62 + (2^62 - 1) fits exactly")
end

local function test_rational_errors()
	raises(function() return Q.div(1, 0) end, "division by zero", "div by zero raises")
	raises(function() return Q.new(1, 2) / Q.new(0) end, "division by zero", "operator / by zero raises")
	raises(function() return Q.new(1, 0) end, "division by zero", "new(1, 0) raises")
	raises(function() return Q.from("1/0") end, "division by zero", "from(\"1/0\") raises")
	local near = (1 << 62) - 57
	raises(function() return Q.new(near) * Q.new(near) end, "rational overflow",
		"(2^62-57)^2 raises overflow")
	raises(function() return Q.new(near) * 4 end, "rational overflow", "2^62-ish * 4 raises overflow")
	raises(function() return Q.new(math.maxinteger) + 1 end, "rational overflow",
		"maxinteger + 1 raises overflow")
	raises(function() return Q.new(-math.maxinteger) - 2 end, "rational overflow",
		"-maxinteger - 2 raises overflow")
	raises(function() return Q.new(1, near) + Q.new(1, near - 2) end, "rational overflow",
		"1/a + 1/b with coprime a, b ~ 2^62 raises overflow")
	raises(function() return Q.new(math.mininteger) end, "rational overflow",
		"mininteger is rejected")
	raises(function() return Q.from("99999999999999999999") end, "rational overflow",
		"parsing an out-of-range integer raises overflow")
	raises(function() return Q.from("1.5") end, "cannot parse", "\"1.5\" is not accepted")
	raises(function() return Q.from(0.5) end, "non-integral float", "0.5 float is not accepted")
end

local function test_c_literals()
	local cases = {
		{ "3/2", "1.5f" }, { "-1/3", "-0.333333343f" }, { "1/3", "0.333333343f" },
		{ "2", "2.0f" }, { "0", "0.0f" }, { "-1", "-1.0f" }, { "1/1024", "0.0009765625f" },
		{ "-1/6", "-0.166666672f" }, { "1000000000000", "9.99999996e+11f" },
		{ "1/24", "0.0416666679f" },
	}
	for _, c in ipairs(cases) do
		is(Q.to_c_literal(Q.from(c[1])), c[2], "to_c_literal(" .. c[1] .. ")")
	end
end

-- Exact F(2,3) / F(4,3) against the published matrices ----------------------

local function matrix_from(rows)
	local a = {}
	for i, row in ipairs(rows) do
		a[i] = {}
		for j, v in ipairs(row) do a[i][j] = Q.from(v) end
	end
	return a
end

local function same_matrix(a, b)
	if #a ~= #b then return false end
	for i = 1, #a do
		if #a[i] ~= #b[i] then return false end
		for j = 1, #a[i] do
			if not Q.eq(a[i][j], b[i][j]) then return false end
		end
	end
	return true
end

local function is_matrix(got, want_rows, name)
	local want = matrix_from(want_rows)
	if not ok(same_matrix(got, want), name) then
		diag(CT.matrix_tostring(got, "got"))
		diag(CT.matrix_tostring(want, "want"))
	end
end

local function test_lavin_f23()
	local w = CT.derive(2, 3, { 0, 1, -1 })
	is(w.alpha, 4, "F(2,3) alpha = 4")
	is_matrix(w.AT, { { 1, 1, 1, 0 }, { 0, 1, -1, -1 } }, "F(2,3) AT matches Lavin & Gray")
	is_matrix(w.G, { { 1, 0, 0 }, { "1/2", "1/2", "1/2" }, { "1/2", "-1/2", "1/2" }, { 0, 0, 1 } },
		"F(2,3) G matches Lavin & Gray")
	is_matrix(w.BT, { { 1, 0, -1, 0 }, { 0, 1, 1, 0 }, { 0, -1, 1, 0 }, { 0, 1, 0, -1 } },
		"F(2,3) BT matches Lavin & Gray")
	local s = CT.derive(2, 3, { "0", "1", "-1" })
	ok(same_matrix(s.G, w.G), "string points give the same F(2,3)")
end

local function test_lavin_f43()
	local w = CT.derive(4, 3, { 0, 1, -1, 2, -2 })
	is_matrix(w.AT, {
		{ 1, 1, 1, 1, 1, 0 }, { 0, 1, -1, 2, -2, 0 },
		{ 0, 1, 1, 4, 4, 0 }, { 0, 1, -1, 8, -8, 1 } }, "F(4,3) AT matches Lavin & Gray")
	is_matrix(w.G, {
		{ "1/4", 0, 0 }, { "-1/6", "-1/6", "-1/6" }, { "-1/6", "1/6", "-1/6" },
		{ "1/24", "1/12", "1/6" }, { "1/24", "-1/12", "1/6" }, { 0, 0, 1 } },
		"F(4,3) G matches Lavin & Gray")
	is_matrix(w.BT, {
		{ 4, 0, -5, 0, 1, 0 }, { 0, -4, -4, 1, 1, 0 }, { 0, 4, -4, -1, 1, 0 },
		{ 0, -2, -1, 2, 1, 0 }, { 0, 2, -1, -2, 1, 0 }, { 0, 4, 0, -5, 0, 1 } },
		"F(4,3) BT matches Lavin & Gray")
end

-- Independent floating-point check ----------------------------------------

local function to_float(a)
	local f = {}
	for i, row in ipairs(a) do
		f[i] = {}
		for j, v in ipairs(row) do f[i][j] = Q.to_number(v) end
	end
	return f
end

local function transpose(a)
	local t = {}
	for j = 1, #a[1] do
		t[j] = {}
		for i = 1, #a do t[j][i] = a[i][j] end
	end
	return t
end

local function matmul(a, b)
	local c = {}
	for i = 1, #a do
		c[i] = {}
		for j = 1, #b[1] do
			local s = 0.0
			for k = 1, #b do s = s + a[i][k] * b[k][j] end
			c[i][j] = s
		end
	end
	return c
end

local function hadamard(a, b)
	local c = {}
	for i = 1, #a do
		c[i] = {}
		for j = 1, #a[i] do c[i][j] = a[i][j] * b[i][j] end
	end
	return c
end

local function random_matrix(rows, cols)
	local a = {}
	for i = 1, rows do
		a[i] = {}
		for j = 1, cols do a[i][j] = math.random() * 2 - 1 end
	end
	return a
end

-- Direct 2-D correlation; returns the result and, per output, the sum of
-- |terms| (the scale a relative error is measured against).
local function correlate2d(d, g, m1, m2)
	local y, scale = {}, {}
	for i = 1, m1 do
		y[i], scale[i] = {}, {}
		for k = 1, m2 do
			local s, a = 0.0, 0.0
			for j = 1, #g do
				for l = 1, #g[1] do
					local t = d[i + j - 1][k + l - 1] * g[j][l]
					s, a = s + t, a + math.abs(t)
				end
			end
			y[i][k], scale[i][k] = s, a
		end
	end
	return y, scale
end

local function max_rel_error(got, want, scale)
	local worst = 0.0
	for i = 1, #want do
		for j = 1, #want[i] do
			local e = math.abs(got[i][j] - want[i][j]) / math.max(scale[i][j], 1e-300)
			worst = math.max(worst, e)
		end
	end
	return worst
end

local TOL = 1e-9

-- 1-D: vectors as column matrices, y = AT ((G g) .* (BT d)).
local function float_error_1d(w, m, r)
	local AT, G, BT = to_float(w.AT), to_float(w.G), to_float(w.BT)
	local d, g = random_matrix(w.alpha, 1), random_matrix(r, 1)
	local y = matmul(AT, hadamard(matmul(G, g), matmul(BT, d)))
	local want, scale = correlate2d(d, g, m, 1)
	return max_rel_error(y, want, scale)
end

-- 2-D nesting: Y = AT [ (G g G^T) .* (BT d B) ] A.
local function float_error_2d(w, m, r)
	local AT, G, BT = to_float(w.AT), to_float(w.G), to_float(w.BT)
	local d, g = random_matrix(w.alpha, w.alpha), random_matrix(r, r)
	local U = matmul(matmul(G, g), transpose(G))
	local V = matmul(matmul(BT, d), transpose(BT))
	local Y = matmul(matmul(AT, hadamard(U, V)), transpose(AT))
	local want, scale = correlate2d(d, g, m, m)
	return max_rel_error(Y, want, scale)
end

local function float_checks(w, m, r, label)
	local e1, e2 = float_error_1d(w, m, r), float_error_2d(w, m, r)
	if not ok(e1 <= TOL, label .. " 1-D float agrees with direct correlation") then
		diag("relative error " .. e1)
	end
	if not ok(e2 <= TOL, label .. " 2-D float agrees with direct correlation") then
		diag("relative error " .. e2)
	end
end

-- Sweeps and other point sets ---------------------------------------------

local function test_default_points()
	local want = { "0", "1", "-1", "2", "-1/2", "1/2", "-2", "3", "-1/3", "1/3", "-3",
		"4", "-1/4", "1/4", "-4" }
	local got = {}
	for i, p in ipairs(CT.default_points(15)) do got[i] = S(p) end
	is(table.concat(got, " "), table.concat(want, " "), "default_points(15)")
	is(#CT.default_points(0), 0, "default_points(0) is empty")
	is(#CT.default_points(6), 6, "default_points(6) has 6 points")
end

local function test_sweep()
	for r = 1, 7 do
		for m = 1, 9 - r do
			local label = string.format("F(%d,%d)", m, r)
			local okd, w = pcall(CT.derive, m, r, CT.default_points(m + r - 2))
			local good = okd and CT.check(w, m, r)
			if not ok(good, label .. " default points: derive and exact check") then
				diag(okd and "check failed" or w)
			else
				float_checks(w, m, r, label)
			end
		end
	end
end

local function test_point_sets()
	local sets = {
		{ 4, { "0", "1", "-1", "1/2", "-1/2" } },
		{ 4, { "0", "1", "-1", "3/2", "-3/2" } },
		{ 4, { "1/2", "-1/2", "2", "-2", "3/2" } },
		{ 4, { "0", "-1/3", "2/3", "-5/4", "7" } },
		{ 6, { "0", "1", "-1", "1/2", "-1/2", "2", "-2" } },
		{ 6, { "0", "1", "-1", "3/2", "-3/2", "2/3", "-2/3" } },
		{ 6, { "0", "1", "-1", "2", "-2", "3", "-3" } },
		{ 6, { "1", "-1", "1/2", "-1/2", "1/4", "-1/4", "3/2" } },
	}
	for _, s in ipairs(sets) do
		local m, label = s[1], string.format("F(%d,3) {%s}", s[1], table.concat(s[2], ","))
		local okd, w = pcall(CT.derive, m, 3, s[2])
		if not ok(okd and CT.check(w, m, 3), label .. ": derive and exact check") then
			diag(okd and "check failed" or w)
		else
			float_checks(w, m, 3, label)
		end
	end
	-- The largest supported tiles still derive without overflow.
	local okd, err = pcall(function()
		for m = 1, 16 do CT.derive(m, 17 - m) end
	end)
	if not ok(okd, "every F(m,r) with alpha = 16 derives with default points") then
		diag(err)
	end
end

-- Errors and corruption ---------------------------------------------------

local function test_bad_arguments()
	raises(function() CT.derive(2, 3, { 0, 1, 1 }) end, "duplicate point 1",
		"duplicate points are rejected")
	raises(function() CT.derive(2, 3, { "0", "1/2", "2/4" }) end, "duplicate point 1/2",
		"duplicates after normalization are rejected")
	raises(function() CT.derive(2, 3, { 0, 1 }) end, "needs alpha - 1 = 3 finite points",
		"too few points are rejected")
	raises(function() CT.derive(2, 3, { 0, 1, -1, 2 }) end, "got 4",
		"too many points are rejected")
	raises(function() CT.derive(0, 3) end, "m must be an integer >= 1 (got 0)", "m = 0 is rejected")
	raises(function() CT.derive(2, 0) end, "r must be an integer >= 1", "r = 0 is rejected")
	raises(function() CT.derive(1.5, 3) end, "m must be an integer", "non-integer m is rejected")
	raises(function() CT.derive(10, 8) end, "more than the maximum 16", "alpha > 16 is rejected")
	raises(function() CT.derive(2, 3, { 0, 1, "x" }) end, "points[3]", "an unparsable point is rejected")
end

local function copy_matrices(w)
	local c = { alpha = w.alpha }
	for _, name in ipairs({ "AT", "G", "BT" }) do
		c[name] = {}
		for i, row in ipairs(w[name]) do
			c[name][i] = {}
			for j, v in ipairs(row) do c[name][i][j] = v end
		end
	end
	return c
end

local function test_corruption()
	local w = CT.derive(4, 3)
	ok(CT.check(w, 4, 3), "check accepts the derived F(4,3)")
	local hits = { { "AT", 2, 3 }, { "G", 4, 2 }, { "BT", 6, 1 }, { "BT", 3, 3 } }
	for _, h in ipairs(hits) do
		local c = copy_matrices(w)
		c[h[1]][h[2]][h[3]] = c[h[1]][h[2]][h[3]] + Q.new(1, 7)
		local good, msg = CT.check(c, 4, 3)
		if not ok(good == false and type(msg) == "string",
			string.format("check rejects F(4,3) with %s[%d][%d] changed", h[1], h[2], h[3])) then
			diag("check returned " .. tostring(good))
		end
	end
	local c = copy_matrices(w)
	c.G[1] = { Q.one, Q.zero }
	local good, msg = CT.check(c, 4, 3)
	ok(good == false and tostring(msg):find("G row 1", 1, true) ~= nil, "check rejects a malformed G")
	good = CT.check(w, 3, 3)
	ok(good == false, "check rejects matrices for the wrong F(m,r)")
end

local function test_tostring()
	local w = CT.derive(2, 3, { 0, 1, -1 })
	is(CT.matrix_tostring(w.G),
		"[    1    0    0 ]\n[  1/2  1/2  1/2 ]\n[  1/2 -1/2  1/2 ]\n[    0    0    1 ]",
		"matrix_tostring of F(2,3) G")
end

math.randomseed(42)
test_rational()
test_rational_errors()
test_c_literals()
test_lavin_f23()
test_lavin_f43()
test_default_points()
test_sweep()
test_point_sets()
test_bad_arguments()
test_corruption()
test_tostring()
print("1.." .. tap.count)
