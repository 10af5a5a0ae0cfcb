-- lib/rational.lua - exact rationals on Lua 5.4 64-bit integers.
-- Used to derive Winograd transforms without any rounding; a silently
-- wrapped integer would give a wrong kernel, so every operation checks for
-- overflow and raises error("rational overflow ...") instead.
--   local Q = require("lib.rational")
--   local h = Q.new(1, 3) + Q.from("1/6")      -- 1/2
--   Q.tostring(h), Q.to_c_literal(h)           -- "1/2", "0.5f"
-- Values are immutable tables {p = numerator, q = denominator} with q > 0
-- and gcd(|p|, q) == 1.  math.mininteger is never stored: excluding it
-- makes negation and absolute value always safe.
-- Note: Lua only calls __eq when both operands are tables, so `r == 1` is
-- always false; use Q.eq(r, 1) (or compare with Q.from(1)).
local M = {}
local Rational = {}
Rational.__index = Rational

local MININT = math.mininteger

local function overflow(what, a, b)
	error(string.format("rational overflow in %s (%d, %d)", what, a, b), 3)
end

-- a + b on integers, or an error if the true sum does not fit.
local function add_int(a, b)
	local c = a + b
	if (b > 0 and c < a) or (b < 0 and c > a) or c == MININT then
		overflow("add", a, b)
	end
	return c
end

local function mul_int(a, b)
	if a == 0 or b == 0 then return 0 end
	local c = a * b
	-- With both operands != MININT a wrapped product can never divide back
	-- exactly (the wrap error is a multiple of 2^64 > |b| * 1).
	if c // b ~= a or c % b ~= 0 or c == MININT then
		overflow("mul", a, b)
	end
	return c
end

local function gcd(a, b)
	if a < 0 then a = -a end
	if b < 0 then b = -b end
	while b ~= 0 do
		a, b = b, a % b
	end
	return a
end

-- The only constructor of the table: normalizes sign and common factors.
local function make(p, q)
	if q == 0 then error("rational division by zero", 3) end
	if p == MININT or q == MININT then overflow("make", p, q) end
	if q < 0 then p, q = -p, -q end
	local g = gcd(p, q)
	if g > 1 then p, q = p // g, q // g end
	return setmetatable({ p = p, q = q }, Rational)
end

local function is_rational(x)
	return getmetatable(x) == Rational
end
M.is_rational = is_rational

-- Integer-valued string to integer, rejecting values that do not fit.
local function parse_int(s, whole)
	local v = math.tointeger(tonumber(s))
	if v == nil or v == MININT then
		error(string.format("rational overflow parsing %q", whole), 3)
	end
	return v
end

local function parse(s)
	local ps, qs = s:match("^%s*([+-]?%d+)%s*/%s*([+-]?%d+)%s*$")
	if not ps then
		ps = s:match("^%s*([+-]?%d+)%s*$")
		qs = "1"
	end
	if not ps then
		error(string.format("rational: cannot parse %q (want \"p\" or \"p/q\")", s), 3)
	end
	return make(parse_int(ps, s), parse_int(qs, s))
end

-- new(p [, q]) from integers; q defaults to 1.
function M.new(p, q)
	q = q or 1
	if math.type(p) ~= "integer" or math.type(q) ~= "integer" then
		error("rational.new: integers expected, got " .. tostring(p) .. ", " .. tostring(q), 2)
	end
	return make(p, q)
end

-- from(x): a rational, an integer, an integral float, or a string
-- "p/q" / "p" (e.g. "-3/2", "+7", "4").
function M.from(x)
	if is_rational(x) then return x end
	local t = math.type(x)
	if t == "integer" then return make(x, 1) end
	if t == "float" then
		local i = math.tointeger(x)
		if i == nil then
			error("rational.from: non-integral float " .. tostring(x) .. " (use a \"p/q\" string)", 2)
		end
		return make(i, 1)
	end
	if type(x) == "string" then return parse(x) end
	error("rational.from: cannot convert a " .. type(x), 2)
end
local from = M.from

function M.add(a, b)
	a, b = from(a), from(b)
	-- Scale by lcm(qa, qb) rather than qa*qb to keep numbers small.
	local g = gcd(a.q, b.q)
	local p = add_int(mul_int(a.p, b.q // g), mul_int(b.p, a.q // g))
	return make(p, mul_int(a.q, b.q // g))
end

function M.neg(a)
	a = from(a)
	return make(-a.p, a.q)
end

function M.sub(a, b)
	return M.add(a, M.neg(b))
end

function M.mul(a, b)
	a, b = from(a), from(b)
	-- Cancel crosswise first so the products only overflow when the
	-- result really does not fit.
	local g1, g2 = gcd(a.p, b.q), gcd(b.p, a.q)
	if g1 == 0 or g2 == 0 then return make(0, 1) end
	return make(mul_int(a.p // g1, b.p // g2), mul_int(a.q // g2, b.q // g1))
end

function M.inv(a)
	a = from(a)
	if a.p == 0 then error("rational division by zero", 2) end
	return make(a.q, a.p)
end

function M.div(a, b)
	b = from(b)
	if b.p == 0 then error("rational division by zero", 2) end
	return M.mul(a, make(b.q, b.p))
end

function M.eq(a, b)
	a, b = from(a), from(b)
	return a.p == b.p and a.q == b.q
end

-- a < b  <=>  a.p * b.q < b.p * a.q (denominators are positive).
function M.lt(a, b)
	a, b = from(a), from(b)
	return mul_int(a.p, b.q) < mul_int(b.p, a.q)
end

function M.le(a, b)
	return not M.lt(b, a)
end

function M.iszero(a) a = from(a); return a.p == 0 end
function M.isone(a) a = from(a); return a.p == 1 and a.q == 1 end
function M.isminusone(a) a = from(a); return a.p == -1 and a.q == 1 end
function M.isinteger(a) a = from(a); return a.q == 1 end

function M.sign(a)
	a = from(a)
	if a.p > 0 then return 1 elseif a.p < 0 then return -1 end
	return 0
end

function M.abs(a)
	a = from(a)
	if a.p < 0 then return make(-a.p, a.q) end
	return a
end

-- Integer power (exponent >= 0), by repeated checked multiplication.
function M.pow(a, n)
	a = from(a)
	assert(math.type(n) == "integer" and n >= 0, "rational.pow: exponent must be an integer >= 0")
	local r = make(1, 1)
	for _ = 1, n do r = M.mul(r, a) end
	return r
end

-- "3/2", "-1", "0".
function M.tostring(a)
	a = from(a)
	if a.q == 1 then return string.format("%d", a.p) end
	return string.format("%d/%d", a.p, a.q)
end

-- Nearest double (p and q are each rounded to double first; fine for the
-- small values the derivations produce).
function M.to_number(a)
	a = from(a)
	return a.p / a.q
end

-- A C float literal: the value rounded to float, printed with 9
-- significant digits (enough to round-trip any float), e.g. "1.5f",
-- "-0.333333343f", "2.0f".  Rounding goes through double first, so in
-- rare ties the result may be one float ulp from the correctly rounded one.
function M.to_c_literal(a)
	local f = string.unpack("f", string.pack("f", M.to_number(a)))
	local s = string.format("%.9g", f)
	-- "%.9g" prints integers as "2"; "2f" is not a valid C literal.
	if not s:find("[%.e]") then s = s .. ".0" end
	return s .. "f"
end

Rational.__add = M.add
Rational.__sub = M.sub
Rational.__mul = M.mul
Rational.__div = M.div
Rational.__unm = M.neg
Rational.__eq = M.eq
Rational.__lt = M.lt
Rational.__le = M.le
Rational.__tostring = M.tostring

M.zero = make(0, 1)
M.one = make(1, 1)

return M
