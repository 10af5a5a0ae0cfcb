# plot_svd.gp - the SVD rank study's plots (issue 8) from the CSVs of
# bench/study_svd.c:
#   docs/svd_spectrum.png/.svg    sigma_i / sigma_1 vs index i, log y
#   docs/svd_rank_error.png/.svg  ||X B - X_k B||_F / ||X B||_F vs rank k,
#                                 log-log (lines: exact, every rank;
#                                 points: measured in float on a log grid)
#                                 one line per matrix
#   docs/svd_speed.png/.svg       measured speedup of the generated fused
#                                 svd kernel over the generated dense GEMM
#                                 vs rank, one line per batch M, next to
#                                 the FLOP speedup K N / (k (K + N))
#                                 (docs/data/svd_speed.csv) Run from the source tree: gnuplot bench/plot_svd.gp
# (make study-svd does). Matrices missing from the CSV (the trained
# model's, when there is none) are left out of the key.
# pngcairo when gnuplot has it, else the libgd png terminal; also svg.

spec = "docs/data/svd_spectrum.csv"
err = "docs/data/svd_rank_error.csv"
speed = "docs/data/svd_speed.csv"
set datafile separator ","

array names[8] = ["gaussian", "lowrank32+noise", "exp-decay 0.9^i", \
                  "poly-decay 1/(i+1)", "mnist pixels", "chelsea.png", \
                  "mnist layer-1 activations", "layer-2 weights"]
array titles[8] = ["Gaussian 512x512", "rank 32 + noise 1e-2, 512x512", \
                   "σ_i = 0.9^i, 512x512", "σ_i = 1/(i+1), 512x512", \
                   "MNIST pixels, 512 images x 784", \
                   "chelsea.png gray, 300x451", \
                   "MNIST layer-1 activations, 512x512", \
                   "layer-2 weights (trained), 128x512"]
array colors[8] = ["#1b6ac9", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", \
                   "#495057", "#0c8599", "#c2255c"]
colors[5] = "#f59f00"

# Which matrices are in the file: count each one's rows (dry run).
array present[8]
do for [i = 1:8] {
	stats spec skip 1 using (strcol(1) eq names[i] ? 1 : 0) nooutput
	present[i] = STATS_sum > 0 ? 1 : 0
}
tt(i) = present[i] ? titles[i] : ""

sel(i, c) = strcol(1) eq names[i] ? column(c) : NaN

set grid lc rgb "#dddddd"
set border 3
set tics out nomirror
set key outside right top vertical spacing 1.2 samplen 2.5

do for [t = 1:2] {
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1200,700 font "Sans,11" enhanced
		} else {
			set terminal png size 1200,700 enhanced
		}
		ext = ".png"
	} else {
		set terminal svg size 1200,700 font "Sans,11" enhanced
		ext = ".svg"
	}

	# ---- spectrum ----
	set output "docs/svd_spectrum" . ext
	set title "Singular value spectra, normalized: σ_i / σ_1 (LAPACK dgesdd in double on the float matrix)\n" . \
	          "{/*0.85 the decaying spectra flatten at the float rounding of their entries (about 1e-8 of σ_1 for 0.9^i)}"
	unset logscale
	set logscale y
	set format y "10^{%L}"
	set xlabel "index i"
	set ylabel "σ_i / σ_1 (log scale)"
	set xrange [0:*]
	set yrange [*:2]
	set ytics auto
	plot for [i = 1:8] spec skip 1 using 2:(sel(i, 4)) with lines lw 2 \
	         lc rgb colors[i] title tt(i)
	unset output

	# ---- rank error ----
	set output "docs/svd_rank_error" . ext
	set title "Relative error of the product with the rank-k approximation: ||X B - X_k B||_F / ||X B||_F, B Gaussian (cols x 512)\n" . \
	          "{/*0.85 lines: exact (from the SVD, every rank); points: measured in float (X_k rounded to float, cblas\\_sgemm), log grid of ranks; dashed: 1%}"
	set logscale xy
	set format x "%g"
	set format y "10^{%L}"
	set xlabel "rank k (log scale)"
	set ylabel "relative Frobenius error (log scale)"
	set xrange [1:800]
	set yrange [1e-8:2]
	set xtics ("1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64, \
	           "128" 128, "256" 256, "512" 512, "784" 784)
	plot for [i = 1:8] err skip 1 using 2:(sel(i, 3)) with lines lw 2 \
	         lc rgb colors[i] title tt(i), \
	     for [i = 1:8] err skip 1 using 2:(sel(i, 4)) with points pt 7 \
	         ps 0.6 lc rgb colors[i] notitle, \
	     0.01 with lines dt 2 lw 1.5 lc rgb "#555555" title "1% error"
	unset output
	unset xtics
	set xtics auto

	# ---- speed ----
	set output "docs/svd_speed" . ext
	set title "Generated fused rank-k svd kernel vs the generated dense GEMM: activations (M x 512) x layer-2 weights^T (512 x 128)\n" . \
	          "{/*0.85 measured speedup (median of 5 same-run rounds, one thread) and the FLOP speedup 512·128 / (k (512 + 128)); above 1 the svd kernel is faster}"
	set logscale xy
	set format x "%g"
	set format y "%g"
	set xlabel "rank k (log scale)"
	set ylabel "speedup over the dense GEMM (log scale)"
	set xrange [0.8:160]
	set yrange [0.5:150]
	set xtics ("1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64, \
	           "96" 96, "128" 128)
	set ytics ("0.5" 0.5, "1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, \
	           "64" 64, "128" 128)
	selm(m, c) = column(2) == m ? column(c) : NaN
	plot speed skip 1 using 5:(selm(1, 6)) with lines lw 2 dt 2 \
	         lc rgb "#555555" title "FLOP speedup", \
	     speed skip 1 using 5:(selm(1, 10)) with linespoints lw 2 pt 7 \
	         lc rgb "#1b6ac9" title "measured, M = 1", \
	     speed skip 1 using 5:(selm(64, 10)) with linespoints lw 2 pt 5 \
	         lc rgb "#d9480f" title "measured, M = 64", \
	     speed skip 1 using 5:(selm(512, 10)) with linespoints lw 2 pt 9 \
	         lc rgb "#2b8a3e" title "measured, M = 512", \
	     1 with lines lw 1 lc rgb "#999999" notitle
	unset output
	unset xtics
	set xtics auto
	unset ytics
	set ytics auto
}
