-- conv_im2col.lua - convolution as one matrix product per image,
-- specialized to one shape: out[K x P] = W[K x CRS] * cols[CRS x P] + bias,
-- P = HO*WO output pixels, CRS = C*R*S taps.
--
-- Implicit im2col: the column matrix is never written. The product is the
-- generated GEMM of lib.gemm with the weights as its A (packed once, in
-- prepare) and the columns as its B, which the GEMM asks for one KC x NC
-- block at a time (b_panels); the block is packed here straight from the
-- image, just in time, and stays in L2 while the weights sweep it. So the
-- memory traffic is the image, the weights and the output, not C*R*S*P
-- floats written and read twice.
--
-- To make that packing plain copies, the image is first laid out padded
-- (zeros around it, as many as the padding) and, for stride > 1, split
-- into STRIDE x STRIDE phases (rows y*STRIDE + py, columns x*STRIDE + px):
-- then the value tap (i, j) of channel c gives output pixel (y, x) is
-- element (y + i/STRIDE, x + j/STRIDE) of phase (i%STRIDE, j%STRIDE) of
-- channel c, so a run of output pixels along a row reads a contiguous run
-- of that plane. A panel of NR output pixels is at most a few such runs
-- (a new one where the output row wraps); each run is loaded as whole
-- vectors and its lanes picked by a mask, so packing a row of a panel is
-- a few vector loads, ands and ors, no test per element.
--
-- The bias is where the GEMM's micro-kernels start their sums (lib.gemm's
-- bias), so the output is written once, not set and then read back.
-- Threads (dp_parallel_for) share the
-- channels of the padded copy, then the GEMM's slots (fixed runs of
-- column blocks by parts of the filters, each packing its own blocks of
-- B) or, for a small product in one slot, the panels of each block; each
-- output is computed by one thread in the same order, so results do not
-- depend on the thread count.
local emit = require("lib.emit")
local gemm = require("lib.gemm")
local kernel = require("lib.kernel")

local M = {}

local LANES = 8

-- Outputs o in [0, nout) whose input index o*stride + t - pad lies in
-- [0, size): returns the half-open range [lo, hi).
local function valid_range(nout, t, stride, pad, size)
	local lo, hi = nout, 0
	for o = 0, nout - 1 do
		local idx = o * stride + t - pad
		if idx >= 0 and idx < size then
			if o < lo then lo = o end
			hi = o + 1
		end
	end
	if hi <= lo then return 0, 0 end
	return lo, hi
end

-- The runs of panel j (NR output pixels from j*NR): { lo, hi, y, x } per
-- output row it touches, lanes [lo, hi) being pixels (y, x..).
local function panel_runs(d, nr, j)
	local runs, p0 = {}, j * nr
	local y, x, lane = p0 // d.wo, p0 % d.wo, 0
	while lane < nr and y < d.ho do
		local len = math.min(d.wo - x, nr - lane)
		runs[#runs + 1] = { lo = lane, hi = lane + len, y = y, x = x }
		lane, y, x = lane + len, y + 1, 0
	end
	return runs
end

local function emit_planes(e, d)
	local st = d.stride
	e:line("/* The padded image: channel c, phase (py, px) is the plane")
	e:line(" * xp[(c * PHASES + py * STRIDE + px) * PLANE], HQ x WQ, element")
	e:line(" * (yy, xx) = in[c][yy*STRIDE + py - PAD_H][xx*STRIDE + px - PAD_W],")
	e:line(" * zero outside the image. Per phase, the rows [y0, y1) and columns")
	e:line(" * [x0, x1) that lie inside (known here, so no test per element). */")
	e:line("static const struct { int y0, y1, x0, x1; } PHASE[PHASES] = {")
	for py = 0, st - 1 do
		local row = {}
		for px = 0, st - 1 do
			local y0, y1 = valid_range(d.hq, py, st, d.pad_h, d.h)
			local x0, x1 = valid_range(d.wq, px, st, d.pad_w, d.w)
			if x1 <= x0 or y1 <= y0 then y0, y1, x0, x1 = 0, 0, 0, 0 end
			row[#row + 1] = string.format("{ %d, %d, %d, %d }", y0, y1, x0, x1)
		end
		e:line("\t%s,", table.concat(row, ", "))
	end
	e:line("};")
	e:line()
	e:line("struct planes_job { const float *img; float *xp; };")
	e:line()
	e:line("/* Planes [begin, end) (channel * PHASES + phase): copies only. */")
	e:line("static void pad_planes(void *ctx, int begin, int end)")
	e:open("{")
	e:line("const struct planes_job *job = ctx;")
	e:open("for (int cp = begin; cp < end; cp++) {")
	e:line("const int c = cp / PHASES, ph = cp % PHASES;")
	if st > 1 then
		e:line("const int py = ph / STRIDE, px = ph % STRIDE;")
	end
	e:line("const int y0 = PHASE[ph].y0, y1 = PHASE[ph].y1;")
	e:line("const int x0 = PHASE[ph].x0, x1 = PHASE[ph].x1;")
	e:line("const float *restrict plane = job->img + c * H * W;")
	e:line("float *restrict dst = job->xp + cp * PLANE;")
	e:line("memset(dst, 0, (size_t)y0 * WQ * sizeof(float));")
	e:open("for (int yy = y0; yy < y1; yy++) {")
	if st > 1 then
		e:line("const float *restrict src = plane + (yy * STRIDE + py - PAD_H) * W;")
	else
		e:line("const float *restrict src = plane + (yy - PAD_H) * W;")
	end
	e:line("float *restrict row = dst + yy * WQ;")
	e:line("memset(row, 0, (size_t)x0 * sizeof(float));")
	if st > 1 then
		e:single("for (int xx = x0; xx < x1; xx++)",
			"row[xx] = src[xx * STRIDE + px - PAD_W];")
	else
		e:line("memcpy(row + x0, src + x0 - PAD_W, (size_t)(x1 - x0) * sizeof(float));")
	end
	e:line("memset(row + x1, 0, (size_t)(WQ - x1) * sizeof(float));")
	e:close("}")
	e:line("memset(dst + y1 * WQ, 0, (size_t)(HQ - y1) * WQ * sizeof(float));")
	e:close("}")
	e:close("}")
	e:line()
end

-- One case of the panel packer: a panel of `nruns` runs, kc rows.
local function emit_runs_case(e, nv, nruns)
	for r = 0, nruns - 1 do
		local ms = {}
		for v = 0, nv - 1 do ms[#ms + 1] = string.format("m%d_%d", r, v) end
		e:line("conv_ivec %s;", table.concat(ms, ", "))
		for v = 0, nv - 1 do
			local sh = v > 0 and " - " .. v * LANES or ""
			e:line("lanes_in(&m%d_%d, lo[%d]%s, hi[%d]%s);", r, v, r, sh, r, sh)
		end
	end
	e:open("for (int q = 0; q < kc; q++) {")
	e:line("const float *restrict src = xp + rowoff[q];")
	for v = 0, nv - 1 do
		local terms = {}
		for r = 0, nruns - 1 do
			terms[#terms + 1] = string.format("(LOAD(src + off[%d]%s) & m%d_%d)",
				r, v > 0 and " + " .. v * LANES or "", r, v)
		end
		local expr = nruns == 1 and terms[1] or
			"(" .. table.concat(terms, " |\n\t\t\t\t\t") .. ")"
		e:line("*(gemm_vec *)(dst + %d) = (gemm_vec)%s;", v * LANES, expr)
	end
	e:line("dst += GEMM_NR;")
	e:close("}")
end

local function emit_pack(e, d, plan)
	local nv = plan.nr // LANES
	local maxruns, fullpanels = 0, 0
	for j = 0, plan.np // plan.nr - 1 do
		local runs = panel_runs(d, plan.nr, j)
		maxruns = math.max(maxruns, #runs)
		if #runs == 1 and runs[1].hi == plan.nr then fullpanels = fullpanels + 1 end
	end
	e:line("/* Tap t = i*S + j of a channel: where its plane starts (phase")
	e:line(" * (i % STRIDE, j % STRIDE)) plus its shift (i / STRIDE rows,")
	e:line(" * j / STRIDE columns). */")
	e:line("static const int TAP[R * S] = {")
	for i = 0, d.r - 1 do
		local row = {}
		for j = 0, d.s - 1 do
			local off = ((i % d.stride) * d.stride + j % d.stride) * d.hq * d.wq +
				(i // d.stride) * d.wq + j // d.stride
			row[#row + 1] = tostring(off)
		end
		e:line("\t%s,", table.concat(row, ", "))
	end
	e:line("};")
	e:line()
	e:line("typedef int conv_ivec __attribute__((vector_size(%d)));", LANES * 4)
	e:line()
	e:line("/* One vector of floats from anywhere (unaligned), as bits for")
	e:line(" * masking. (A macro: a function returning a vector changes the ABI")
	e:line(" * with and without AVX, and compilers warn.) */")
	e:line("#define LOAD(p) ((conv_ivec)*(const gemm_uvec *)(p))")
	e:line()
	e:line("/* All ones in lanes [lo, hi) of one vector, zeros elsewhere. */")
	e:line("static inline void lanes_in(conv_ivec *m, int lo, int hi)")
	e:open("{")
	e:single(string.format("for (int x = 0; x < %d; x++)", LANES),
		"(*m)[x] = x >= lo && x < hi ? -1 : 0;")
	e:close("}")
	e:line()
	e:line("/* The padded image, and where each row of the column matrix starts")
	e:line(" * in it (ROWS of the state). */")
	e:line("struct cols_src { const float *xp; const int *rowoff; };")
	e:line()
	e:comment({
		"The GEMM's B, rows [pc, pc + kc) of the column matrix, panels",
		"[j0, j1) of NR output pixels (see b_panels and b_rows in",
		"lib/gemm.lua): row q of a panel is tap pc + q of every pixel of the",
		"panel. The panel's pixels are runs along output rows (at most " .. maxruns,
		string.format("here; %d of the %d panels are one whole run). A panel that is",
			fullpanels, plan.np // plan.nr),
		"one whole run is not copied: its row q is the NR floats at",
		"xp + off + rowoff[pc + q], which the GEMM reads in place. Any other",
		"is packed into bp: run r fills lanes [lo[r], hi[r]) from plane",
		"offset off[r] + lane of every tap; lanes no run covers (past P) stay",
		"zero.",
	})
	e:line("static void cols_panels(const void *ctx, float *bp, int pc, int kc, int j0,")
	e:line("                        int j1, const float **pb, const int **po)")
	e:open("{")
	e:line("const struct cols_src *s = ctx;")
	e:line("const float *restrict xp = s->xp;")
	e:line("const int *restrict rowoff = s->rowoff + pc;")
	e:open("for (int j = j0; j < j1; j++) {")
	e:line("const int p0 = j * GEMM_NR;")
	e:line("int lo[%d], hi[%d], off[%d], runs = 0;", maxruns, maxruns, maxruns)
	e:line("int y = p0 / WO, x = p0 % WO, lane = 0;")
	e:open("while (lane < GEMM_NR && y < HO) {")
	e:line("const int len = gemm_min(WO - x, GEMM_NR - lane);")
	e:line("lo[runs] = lane;")
	e:line("hi[runs] = lane + len;")
	e:line("off[runs] = y * WQ + x - lane;")
	e:line("runs++;")
	e:line("lane += len;")
	e:line("y++;")
	e:line("x = 0;")
	e:close("}")
	e:open("if (runs == 1 && hi[0] == GEMM_NR) {   /* read in place */")
	e:line("pb[j - j0] = xp + off[0];")
	e:line("po[j - j0] = rowoff;")
	e:line("continue;")
	e:close("}")
	e:line("float *restrict dst = bp + (j - j0) * kc * GEMM_NR;")
	e:line("pb[j - j0] = dst;")
	e:line("po[j - j0] = s->rowoff + ROWS;")
	e:line("switch (runs) {")
	for n = 1, maxruns do
		e:open("case %d: {", n)
		emit_runs_case(e, nv, n)
		e:line("break;")
		e:close("}")
	end
	e:line("}")
	e:close("}")
	e:close("}")
	e:line()
end

local function emit_contract(e)
	e:line("/* State: the weights packed as the GEMM's A (gemm_pack_a_all),")
	e:line(" * the bias, then ROWS: where row ct of the column matrix starts in")
	e:line(" * the padded image (channel ct / (R*S), tap ct % (R*S)), and")
	e:line(" * after them the rows of a packed panel (q * NR). */")
	e:line("static size_t state_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (PACKED_A + K) * sizeof(float) + (ROWS + GEMM_KC) * sizeof(int);")
	e:close("}")
	e:line()
	e:line("static dp_status prepare(const dp_desc *d, const float *weights,")
	e:line("                         const float *bias, void *state)")
	e:open("{")
	e:line("float *st = state;")
	e:line("(void)d;")
	e:line("/* Zero first: the rows past K of a last, partial panel and the")
	e:line(" * slack after packed A are read (never used), not written. */")
	e:line("memset(st, 0, PACKED_A * sizeof(float));")
	e:line("gemm_pack_a_all(weights, st);")
	e:single("if (bias)", "memcpy(st + PACKED_A, bias, K * sizeof(float));")
	e:single("else", "memset(st + PACKED_A, 0, K * sizeof(float));")
	e:line("int *rows = (int *)(st + PACKED_A + K);")
	e:single("for (int ct = 0; ct < ROWS; ct++)",
		"rows[ct] = ct / (R * S) * PHASES * PLANE + TAP[ct % (R * S)];")
	e:single("for (int q = 0; q < GEMM_KC; q++)",
		"rows[ROWS + q] = q * GEMM_NR;")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
	e:line("/* Workspace: the padded image with NR floats of slack each side")
	e:line(" * (the masked loads of a run may reach past its ends), then the")
	e:line(" * GEMM's buffers for blocks of B (GEMM_SLOTS of KC x NC), each")
	e:line(" * from a 64-byte boundary. */")
	e:line("static size_t workspace_bytes(const dp_desc *d)")
	e:open("{")
	e:line("(void)d;")
	e:line("return (XP + 2 * GEMM_NR + PACKED_B + 2 * ALIGN) * sizeof(float);")
	e:close("}")
	e:line()
	e:line("static dp_status execute(const dp_desc *d, const void *state,")
	e:line("                         const float *input, float *output,")
	e:line("                         void *workspace)")
	e:open("{")
	e:line("const float *packed_a = state;")
	e:line("const int *rows = (const int *)(packed_a + PACKED_A + K);")
	e:line("float *slack = align_up(workspace);")
	e:line("float *xp = slack + GEMM_NR;")
	e:line("float *packed_b = align_up(xp + XP + GEMM_NR);")
	e:line("(void)d;")
	e:line("/* The slack is only ever masked out; zero it so that nothing")
	e:line(" * uninitialized is read at all. */")
	e:line("memset(slack, 0, GEMM_NR * sizeof(float));")
	e:line("memset(xp + XP, 0, GEMM_NR * sizeof(float));")
	e:open("for (int n = 0; n < N; n++) {")
	e:line("struct planes_job pj = { input + n * C * H * W, xp };")
	e:line("const struct cols_src src = { xp, rows };")
	e:line("par_for(C * PHASES, (double)XP, pad_planes, &pj);")
	e:line("gemm_run(packed_a, &src, output + n * K * P, packed_b, packed_a + PACKED_A);")
	e:close("}")
	e:line("return DP_OK;")
	e:close("}")
	e:line()
end

function M.generate(d, name)
	local p, crs = d.ho * d.wo, d.c * d.r * d.s
	local spec = { name = "gemm", m = d.k, n = p, k = crs, accumulate = false,
		a_packed = true, b_panels = "cols_panels", b_rows = true, bias = true }
	local plan = gemm.plan(spec)
	d = setmetatable({
		hq = d.ho + (d.r - 1) // d.stride,
		wq = d.wo + (d.s - 1) // d.stride,
	}, { __index = d })
	local e = emit.new()
	kernel.banner(e, d, name, "im2col convolution")
	e:line("#include <stdint.h>")
	e:line("#include <string.h>")
	e:line()
	e:line('#include "%s.h"', name)
	e:line()
	e:line("/* The problem, as constants. HQ x WQ: a plane of the padded image")
	e:line(" * (one of PHASES per channel), what the taps of HO x WO outputs")
	e:line(" * reach. */")
	e:line("enum {")
	e:line("\tN = %d, C = %d, H = %d, W = %d,", d.n, d.c, d.h, d.w)
	e:line("\tK = %d, R = %d, S = %d,", d.k, d.r, d.s)
	e:line("\tSTRIDE = %d, PAD_H = %d, PAD_W = %d,", d.stride, d.pad_h, d.pad_w)
	e:line("\tHO = %d, WO = %d, P = HO * WO,", d.ho, d.wo)
	e:line("\tHQ = %d, WQ = %d, PLANE = HQ * WQ, PHASES = STRIDE * STRIDE,",
		d.hq, d.wq)
	e:line("\tXP = C * PHASES * PLANE, ROWS = C * R * S,")
	e:line("\tPACKED_A = %d, PACKED_B = %d, ALIGN = %d",
		gemm.packed_a_floats(spec), gemm.packed_b_floats(spec),
		gemm.ALIGN_FLOATS)
	e:line("};")
	e:line()
	kernel.align_up(e)
	gemm.emit(e, spec)
	emit_planes(e, d)
	emit_pack(e, d, plan)
	emit_contract(e)
	kernel.object(e, d, name)
	return e:text()
end

return M
