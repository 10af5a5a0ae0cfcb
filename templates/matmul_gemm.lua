-- matmul_gemm.lua - C = A * B through the packed, blocked GEMM of lib.gemm,
-- specialized to one M x K x N.
--
-- prepare packs B (the "weights", K x N) into the state once; execute packs
-- blocks of A (the input, M x K) into the workspace (unless N is narrow:
-- then A is read in place and the workspace is only the alignment slack)
-- and runs the blocked product into C (the output, M x N). Both buffers
-- get 64 bytes of slack so the packed panels can start on a cache line.
local emit = require("lib.emit")
local gemm = require("lib.gemm")
local kernel = require("lib.kernel")

local M = {}

local function emit_buffers(e, spec)
	local bfloats = gemm.packed_b_floats(spec)
	local wfloats = gemm.workspace_floats(spec)
	e:line("/* Packed B and packed A, in floats; each buffer is allocated")
	e:line(" * with ALIGN floats of slack and used from its first 64-byte")
	e:line(" * boundary. */")
	e:line("enum { PACKED_B = %d, PACKED_A = %d, ALIGN = %d };", bfloats,
		wfloats, gemm.ALIGN_FLOATS)
	e:line()
	kernel.align_up(e)
end

local function emit_contract(e)
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (PACKED_B + ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("/* The weights are B; packing it once here is the whole point of")
	e:line(" * the state. There is no bias. */")
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("(void)d;")
	e:line("(void)bias;")
	e:line("gemm_pack_b(weights, align_up(state));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (PACKED_A + ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("(void)d;")
	e:line("gemm_run(input, align_up(state), output,")
	e:line("         align_up(workspace));")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local spec = { name = "gemm", m = d.m, n = d.n, k = d.k }
	local e = emit.new()
	kernel.banner(e, d, name, "packed, blocked GEMM")
	e:line("#include <stdint.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	gemm.emit(e, spec)
	emit_buffers(e, spec)
	emit_contract(e)
	kernel.object(e, d, name)
	return e:text()
end

return M
