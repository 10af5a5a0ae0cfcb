-- lib/name.lua - kernel names carry every parameter, so a name is a full
-- description: dp_conv_direct_r3s3_n1c3h28w28k16_s1p1_fp32.
local M = {}

local function pad_str(d)
	if d.pad_h == d.pad_w then return tostring(d.pad_h) end
	return string.format("%dx%d", d.pad_h, d.pad_w)
end

-- The algorithm's variant: what, besides the shape, it was built for.
-- FNV-1a, 32 bits: a short, stable tag for a non-default point set.
local function fnv1a(s)
	local h = 0x811c9dc5
	for i = 1, #s do
		h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff
	end
	return string.format("%08x", h)
end

local variant = {
	direct = function(d) return string.format("r%ds%d", d.r, d.s) end,
	im2col = function(d) return string.format("r%ds%d", d.r, d.s) end,
	fft = function(d) return string.format("t%dr%ds%d", d.tile, d.r, d.s) end,
	winograd = function(d)
		local v = string.format("f%dr%d", d.tile, d.r)
		if d.points ~= "" then v = v .. "p" .. fnv1a(d.points) end
		return v
	end,
}

-- fp32, bf16, fp8_e4m3, fp16_acc32: a C identifier.
local function prec_str(d)
	local p = d.precision:gsub("-", "_")
	if d.policy and d.policy ~= "all" then p = p .. "_" .. d.policy end
	return p
end

function M.conv(d)
	local v = variant[d.algo]
	assert(v, "no naming rule for conv algorithm " .. tostring(d.algo))
	return string.format("dp_conv_%s_%s_n%dc%dh%dw%dk%d_s%dp%s_%s",
		d.algo, v(d), d.n, d.c, d.h, d.w, d.k, d.stride, pad_str(d),
		prec_str(d))
end

local matmul_variant = {
	svd = function(d) return string.format("_ra%drb%d", d.rank_a, d.rank_b) end,
	log = function(d)
		if d.frac_bits < 0 then return "_fexact" end
		return string.format("_f%d", d.frac_bits)
	end,
	lns = function(d)
		return string.format("_f%da%db%d", d.frac_bits, d.acc_bits, d.bin_bits)
	end,
}

function M.matmul(d)
	local v = matmul_variant[d.algo]
	return string.format("dp_matmul_%s%s_m%dk%dn%d_%s", d.algo,
		v and v(d) or "", d.m, d.k, d.n, prec_str(d))
end

function M.kernel(d)
	if d.op == "conv" then return M.conv(d) end
	return M.matmul(d)
end

return M
