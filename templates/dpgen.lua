-- dpgen.lua - the entry point the generator's C host calls.
-- generate(desc) returns { name = ..., c = source, h = header }.
local name = require("lib.name")
local kernel = require("lib.kernel")

local M = {}

-- The template module of each op/algorithm pair, at fp32 (native: no
-- rounding code anywhere in these).
local templates = {
	conv = { direct = "conv_direct", winograd = "conv_winograd",
		im2col = "conv_im2col", fft = "conv_fft" },
	matmul = { gemm = "matmul_gemm", svd = "matmul_svd", log = "matmul_log",
		lns = "matmul_lns" },
}

-- At every other precision (fp64, tf32, bf16, fp16, fp8-e4m3, fp8-e5m2,
-- int16, int8): the emulated templates, which round where the format and
-- policy say (docs/PRECISION.md). Algorithms missing here are emulated
-- by the runtime only.
local emulated = {
	conv = { direct = "conv_emul_direct", winograd = "conv_emul_winograd" },
	matmul = { gemm = "matmul_emul_gemm" },
}

function M.kernel_name(d)
	return name.kernel(d)
end

function M.generate(d)
	local by_algo = templates[d.op]
	local mod = by_algo and by_algo[d.algo]
	if not mod then
		error(string.format("no template generates op '%s' with algorithm '%s'",
			d.op, d.algo), 0)
	end
	if d.precision ~= "fp32" then
		mod = emulated[d.op][d.algo]
		if not mod then
			local have = {}
			for a in pairs(emulated[d.op]) do have[#have + 1] = a end
			table.sort(have)
			error(string.format("op '%s' algorithm '%s' is generated at fp32 only; "
				.. "at precision %s the runtime emulation serves it (dpgen run, "
				.. "or dp_conv2d/dp_matmul with the precision in dp_desc); "
				.. "generated at %s: %s", d.op, d.algo, d.precision, d.precision,
				table.concat(have, ", ")), 0)
		end
	end
	local n = name.kernel(d)
	return { name = n, c = require(mod).generate(d, n), h = kernel.header(d, n) }
end

return M
