# plot_conv.gp - docs/bench_conv.png and docs/bench_conv.svg from
# docs/data/bench_conv_summary.dat (written by bench/bench_conv.c):
# GFLOP/s per layer, one bar per implementation family (the fastest
# member of the family on that layer), log scale, the name of the winning
# algorithm above each bar (not above im2col-blas: it is one algorithm).
# Run from the source tree: gnuplot bench/plot_conv.gp (bench_conv does).
# pngcairo when gnuplot has it, else the libgd png terminal; also svg.
#
# Summary columns (gnuplot's own format: blank-separated, strings in
# double quotes, which may hold commas as in "winograd F(4,3)"): 1 layer,
# 2-5 GFLOP/s of dpgen generated, dpgen generic, im2col-blas, oneDNN
# (NaN: no result), 6-9 the name of the family's fastest member.

data = "docs/data/bench_conv_summary.dat"
set datafile missing "NaN"

# "C64 H56 K64 3x3" -> two lines, "C64 H56" over "K64 3x3".
label(s) = (p = strstrt(s, " K"), p > 0 ? s[1:p-1] . "\n" . s[p+1:*] : s)

n = 4                      # families
bw = 0.2                   # bar width; a layer's group is n * bw wide
xpos(i, f) = i + (f - (n + 1) / 2.0) * bw

titles = "'dpgen generated (fastest algorithm)' " . \
         "'dpgen generic (fastest algorithm)' " . \
         "'im2col + OpenBLAS sgemm (dpgen im2col-blas)' " . \
         "'oneDNN (fastest of direct, winograd, auto)'"
colors = "#1b6ac9 #8fb8ee #9a9a9a #d9480f"

set title "fp32 convolution, batch 1, one thread: GFLOP/s per layer (higher is better)\n" . \
          "{/*0.85 stride 1, same padding (23x23: none); GFLOP/s = 2 K C R S Ho Wo / median execute time; " . \
          "oneDNN on its own blocked layouts, reorders not counted;}\n" . \
          "{/*0.85 above each bar: the fastest algorithm of that family on that layer; " . \
          "Winograd does fewer multiplications, so its effective GFLOP/s can pass the FMA peak}"
set ylabel "GFLOP/s (log scale)"
set logscale y
base = 0.5                 # the bottom of the axis
set ytics ("0.5" 0.5, "1" 1, "2" 2, "5" 5, "10" 10, "20" 20, "50" 50, \
           "100" 100, "200" 200, "500" 500, "1000" 1000, "2000" 2000)
# Room above the tallest bar for its rotated name: a dry run finds it.
set table $dry
plot for [f = 2:5] data skip 1 using 0:f
unset table
top = GPVAL_DATA_Y_MAX
set yrange [base:(top > 10 ? top : 10) * 4.5]
set grid ytics lc rgb "#dddddd"
set xrange [-0.6:*]
set xtics scale 0 nomirror
set border 3
set tics out
# The key under the two-line layer names (gnuplot does not leave room
# for two-line tick labels itself).
set bmargin 7
set key at screen 0.5, screen 0.015 center bottom horizontal maxcols 2 \
    samplen 2 spacing 1.1
set style fill solid 0.9 border rgb "#555555"
set boxwidth bw

# The algorithm names above the bars.
above = 1.12
names = 'with labels rotate by 90 left font ",8" tc rgb "#333333" notitle'

do for [t = 1:2] {
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,800 font "Sans,11" enhanced
		} else {
			set terminal png size 1400,800 enhanced
		}
		set output "docs/bench_conv.png"
	} else {
		set terminal svg size 1400,800 font "Sans,11" enhanced
		set output "docs/bench_conv.svg"
	}
	plot data skip 1 using 0:(base):xtic(label(strcol(1))) \
	         with points pt 0 ps 0 notitle, \
	     for [f = 1:n] data skip 1 using (xpos($0, f)):(column(f + 1)) \
	         with boxes lc rgb word(colors, f) title word(titles, f), \
	     for [f = 1:2] data skip 1 \
	         using (xpos($0, f)):(column(f + 1) * above):(strcol(f + 5)) \
	         @names, \
	     data skip 1 using (xpos($0, 4)):($5 * above):(strcol(9)) @names
	unset output
}
