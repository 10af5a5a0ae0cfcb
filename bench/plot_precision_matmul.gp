# plot_precision_matmul.gp - the matmul precision study's plots (issue 6)
# from the CSVs of bench/study_precision_matmul.c:
#   docs/precision_matmul.png/.svg  relative L2 error against fp64 on the
#       same rounded inputs vs precision (most precise left), a line per
#       algorithm, log y; left 32x128x32 with standard normal A, right
#       4x784x32 with ReLU A (K = 784: gemm sums 4 blocks); dashed gray:
#       what the rounding of the inputs alone costs (end to end), for
#       scale.
#   docs/precision_log.png/.svg     the log-domain study: mean |error|
#       against fp64 vs the fractional bits F, a line per method, log y,
#       with the naive matmul at emulated formats as horizontal lines
#       (left); the fraction of lns outputs that overflow on inputs times
#       16, per accumulator width (right).
# Run from the source tree: gnuplot bench/plot_precision_matmul.gp (make
# study-precision does). pngcairo when gnuplot has it, else png; also svg.

mm = "docs/data/precision_matmul.csv"
lg = "docs/data/precision_log.csv"
set datafile separator ","

array algos[6] = ["naive", "gemm", "svd", "log-exact", "log-F8", "lns-F8"]
array atitles[6] = ["naive", "gemm", "svd (full rank)", "log, exact logs", \
                    "log, F = 8", "lns, F = 8, W = 32"]
array acolors[6] = ["#1b6ac9", "#74c0fc", "#d9480f", "#2b8a3e", "#8ce99a", \
                    "#862e9c"]
array adash[6] = [1, 2, 1, 1, 2, 1]
array apt[6] = [7, 6, 5, 9, 8, 13]

# column 15: rel_l2_err; 21: rel_l2_e2e
selm(m, k, n, inp, a, c) = (column(1) == m && column(2) == k && \
	column(3) == n && strcol(4) eq inp && strcol(5) eq a) ? column(c) : NaN

set grid lc rgb "#dddddd"
set border 3
set tics out nomirror
set logscale y
set format y "10^{%T}"
set xtics ("fp64" 0, "fp32" 1, "tf32" 2, "fp16" 3, "bf16" 4, \
           "fp8-e4m3" 5, "fp8-e5m2" 6, "tf32" 7, "fp16" 8, "bf16" 9, \
           "fp8-e4m3" 10, "fp8-e5m2" 11, "int16" 12, "int8" 13) \
           rotate by 40 right
# three groups of precisions, each drawn as its own line
array glo[3] = [0, 7, 12]
array ghi[3] = [6, 11, 13]
ing(g) = column(7) >= glo[g] && column(7) <= ghi[g]
set arrow 1 from 6.5, graph 0 to 6.5, graph 1 nohead lc rgb "#adb5bd" dt 2
set arrow 2 from 11.5, graph 0 to 11.5, graph 1 nohead lc rgb "#adb5bd" dt 2
set label 1 "policy acc32 (fp32 sums)" at 4, graph 0.97 center font ",10"
set label 2 "policy all (every op rounded)" at 9, graph 0.97 center \
	font ",10"
set label 3 "fixed point" at 12.5, graph 0.97 center font ",10"
set xrange [-0.5:13.5]
set yrange [1e-9:3]
set ylabel "relative L2 error vs fp64 (same rounded inputs)"

do for [t = 1:2] {
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,650 font "Sans,11" enhanced
		} else {
			set terminal png size 1400,650 enhanced
		}
		ext = ".png"
	} else {
		set terminal svg size 1400,650 font "Sans,11" enhanced
		ext = ".svg"
	}
	set output "docs/precision_matmul".ext
	set multiplot layout 1,2 title "Matmul error added by each " . \
		"algorithm at each precision (50 trials; all = every op " . \
		"rounded, acc32 = fp32 sums)"
	set key off
	set title "32x128x32, A and B standard normal"
	plot for [g = 1:3] for [i = 1:6] mm skip 1 \
		using 7:(ing(g) ? selm(32, 128, 32, "normal", algos[i], 15) : NaN) \
		with linespoints lw 2 dt adash[i] pt apt[i] ps 0.9 \
		lc rgb acolors[i] notitle, \
		for [g = 1:3] mm skip 1 using 7:(ing(g) ? selm(32, 128, 32, \
		"normal", "input-rounding", 21) : NaN) with lines lw 1.5 dt 3 \
		lc rgb "#868e96" notitle
	set title "4x784x32, A = ReLU(normal), B normal (gemm: 4 K blocks)"
	# the key in the empty lower middle of this panel
	set key at first 11.4, first 2e-5 right top spacing 1.1 samplen 2.5 \
		font ",10" box lc rgb "#dddddd"
	plot for [g = 1:3] for [i = 1:6] mm skip 1 \
		using 7:(ing(g) ? selm(4, 784, 32, "relu", algos[i], 15) : NaN) \
		with linespoints lw 2 dt adash[i] pt apt[i] ps 0.9 \
		lc rgb acolors[i] title (g == 1 ? atitles[i] : ""), \
		for [g = 1:3] mm skip 1 using 7:(ing(g) ? selm(4, 784, 32, \
		"relu", "input-rounding", 21) : NaN) with lines lw 1.5 dt 3 \
		lc rgb "#868e96" \
		title (g == 1 ? "inputs' rounding alone (end to end)" : "")
	unset multiplot
	set output
}

# ---- the log-domain study ----
unset arrow
unset label
unset xtics
set xtics 0, 1, 12 norotate
set xrange [-0.3:12.3]
set xlabel "F: fractional bits of log2|x|"

# method (2), variant (3), input (1); column 10: mean_abs_err
sell(inp, me, va, c) = (strcol(1) eq inp && strcol(2) eq me && \
	strcol(3) eq va) ? column(c) : NaN

array bases[6] = ["fp32", "fp16:acc32", "fp16", "bf16:acc32", "bf16", \
                  "fp8-e4m3:acc32"]
array bvals[6]
do for [i = 1:6] {
	stats lg skip 1 using (sell("normal", "naive", bases[i], 10)) nooutput
	bvals[i] = STATS_max
}
array bcolors[6] = ["#212529", "#e8590c", "#f08c00", "#0c8599", \
                    "#3bc9db", "#c2255c"]

array lm[5] = ["log", "lns", "lns", "lns-mitchell", "lns-mitchell"]
array lv[5] = ["F", "W=32", "W=16", "B=F/2", "B=0"]
array lt[5] = ["log (linear sums)", "lns, exact bins, W = 32 (24, 64: same)", \
               "lns, exact bins, W = 16", "lns Mitchell, B = F/2 bin bits", \
               "lns Mitchell, B = 0 (one bin)"]
array lc[5] = ["#2b8a3e", "#862e9c", "#be4bdb", "#d9480f", "#e03131"]
array ldt[5] = [1, 1, 2, 1, 2]

array ws[4] = ["W=16", "W=24", "W=32", "W=64"]
array wc[4] = ["#be4bdb", "#d9480f", "#1b6ac9", "#2b8a3e"]
# column 9: nonfinite, 8: outputs
overflow(va) = (strcol(1) eq "normal*16" && strcol(2) eq "lns" && \
	strcol(3) eq va) ? column(9) / (column(8) + column(9)) : NaN

do for [t = 1:2] {
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,650 font "Sans,11" enhanced
		} else {
			set terminal png size 1400,650 enhanced
		}
		ext = ".png"
	} else {
		set terminal svg size 1400,650 font "Sans,11" enhanced
		ext = ".svg"
	}
	set output "docs/precision_log".ext
	set multiplot layout 1,2 title "Log-domain matmul on the seed " . \
		"assignment's sizes (M, K, N in {2, 8, 32, 128}, standard " . \
		"normal, 64 shapes x 3 trials)"
	set title "mean |error| vs fp64; horizontal: naive at a format " . \
		"(inputs rounded too)"
	set logscale y
	set format y "10^{%T}"
	set yrange [1e-7:3]
	set ylabel "mean |error| vs fp64"
	set key at first 0, first 1e-6 left bottom spacing 1.05 samplen 2.5 \
		font ",9" opaque box lc rgb "#dddddd"
	plot for [i = 1:5] lg skip 1 using 4:(sell("normal", lm[i], lv[i], 10)) \
		with linespoints lw 2 dt ldt[i] pt 7 ps 0.7 lc rgb lc[i] \
		title lt[i], \
		for [i = 1:6] bvals[i] with lines lw 1.2 dt 4 lc rgb bcolors[i] \
		title "naive ".bases[i]
	set title "lns, exact bins, inputs times 16: outputs that overflow"
	unset logscale y
	set format y "%g"
	set yrange [-0.02:1.02]
	set ylabel "fraction of outputs ±Inf (overflow detected)"
	set key at graph 0.95, graph 0.7 right top spacing 1.1 font ",10" \
		box lc rgb "#dddddd"
	# W = 32 thick, under the dashed W = 64 (both never overflow here)
	plot for [i = 1:3] lg skip 1 using 4:(overflow(ws[i])) \
		with linespoints lw (i == 3 ? 5 : 2) pt 7 ps 0.8 lc rgb wc[i] \
		title "W = ".substr(ws[i], 3, 4)." bits", \
		lg skip 1 using 4:(overflow(ws[4])) with linespoints lw 2 dt 2 \
		pt 7 ps 0.8 lc rgb wc[4] title "W = 64 bits"
	unset multiplot
	set output
}
