-- dpgen.lua - the entry point the generator's C host calls.
-- generate(desc) returns { name = ..., c = source, h = header }.
local name = require("lib.name")
local kernel = require("lib.kernel")

local M = {}

-- The template module of each op/algorithm pair.
local templates = {
	conv = { direct = "conv_direct", winograd = "conv_winograd",
		im2col = "conv_im2col", fft = "conv_fft" },
	matmul = { gemm = "matmul_gemm", svd = "matmul_svd", log = "matmul_log",
		lns = "matmul_lns" },
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
		error(string.format("precision %s is not generated for op '%s' "
			.. "algorithm '%s' (dpgen run and the runtime emulate it)",
			d.precision, d.op, d.algo), 0)
	end
	local n = name.kernel(d)
	return { name = n, c = require(mod).generate(d, n), h = kernel.header(d, n) }
end

return M
