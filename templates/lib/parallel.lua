-- lib/parallel.lua - the generated kernels' door to the runtime's threads.
--
-- API
--   local parallel = require("lib.parallel")
--   parallel.emit(e)  -> emits (once per emitter, and guarded by a macro for
--                        text pasted from another emitter) the static C helper
--     void par_for(int items, double flops, dp_range_fn fn, void *ctx)
--   which is dp_parallel_for (dpgen.h; fn(ctx, begin, end) over a static
--   partition of [0, items), small jobs on the caller's thread).
--
-- dp_parallel_for is referenced weakly: a kernel loaded with dlopen into a
-- program that does not export libdpgen's symbols (linked without
-- -rdynamic) still loads, and runs on the caller's thread. Kernels must
-- make each item's result independent of the partition (so results are
-- bitwise identical for every thread count); the helper does not check.
local M = {}

function M.emit(e)
	if e.par_for_emitted then return end
	e.par_for_emitted = true
	e:line("/* Threads: dp_parallel_for (dpgen.h), referenced weakly so that the")
	e:line(" * kernel also loads into a program that does not export libdpgen's")
	e:line(" * symbols to dlopen'd objects; it then runs on one thread. */")
	e:line("#ifndef DP_PAR_FOR_DEFINED")
	e:line("#define DP_PAR_FOR_DEFINED")
	e:line("#pragma weak dp_parallel_for")
	e:line("static void par_for(int items, double flops, dp_range_fn fn, void *ctx)")
	e:open("{")
	e:single("if (dp_parallel_for)", "dp_parallel_for(items, flops, fn, ctx);")
	e:single("else", "fn(ctx, 0, items);")
	e:close("}")
	e:line("#endif")
	e:line()
end

return M
