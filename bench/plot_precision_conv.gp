# plot_precision_conv.gp - the convolution precision study's plots (issue 6)
# from the CSVs of bench/study_precision_conv.c:
#   docs/precision_conv.png/.svg         error vs precision, a line per
#                                        algorithm, log y: the issue's case
#                                        (47x47 C1, normal, mean |error|)
#                                        and 14x14 C64 relu (relative L2)
#   docs/precision_conv_detail.png/.svg  one panel per algorithm: relative
#                                        L2 error vs format, policy all
#                                        (solid) and acc32 (dashed), for
#                                        each input distribution
#   docs/precision_points.png/.svg       Winograd interpolation points
#   docs/precision_summation.png/.svg    pairwise vs sequential channel sums
# Run from the source tree: gnuplot bench/plot_precision_conv.gp (make
# study-precision does). pngcairo when gnuplot has it, else png; also svg.

conv = "docs/data/precision_conv.csv"
pts = "docs/data/precision_points.csv"
summ = "docs/data/precision_summation.csv"
set datafile separator whitespace

# Rows of the CSV as "x y": x is the format's position on the axis (both
# policies of a format share it), y column `col`. pol: "all" keeps fp64,
# fp32, the integers and the :all rows; "acc32" the :acc32 rows.
sel(file, layer, input, algo, col, pol) = sprintf( \
	"< awk -F, 'NR > 1 && $1 == \"%s\" && $2 == \"%s\" && $3 == \"%s\" " . \
	"&& ((\"%s\" == \"acc32\") == ($4 ~ /acc32/)) " . \
	"{ i = $5; x = i <= 2 ? i : (i <= 11 ? int((i - 2) / 2) + 2 : i - 5); " . \
	"print x, $%d }' %s", layer, input, algo, pol, col, file)

set xtics ("fp64" 0, "fp32" 1, "tf32" 2, "bf16" 3, "fp16" 4, "e5m2" 5, \
           "e4m3" 6, "int16" 7, "int8" 8)
set xrange [-0.3:8.3]
set logscale y
set format y "10^{%L}"
set grid lc rgb "#dddddd"
set border 3
set tics out nomirror
set key outside right top vertical spacing 1.1 samplen 2.5

array algos[10] = ["direct", "im2col", "F(2;3)", "F(4;3)", "F(6;3)", \
                   "F(6;3)int", "fft", "fftw", "F(2;5)", "F(4;5)"]
array titles[10] = ["direct", "im2col", "Winograd F(2,3)", \
                    "Winograd F(4,3)", "Winograd F(6,3)", \
                    "F(6,3), points 0,±1,±2,±3", "tiled FFT", "FFTW", \
                    "Winograd F(2,5)", "Winograd F(4,5)"]
array colors[10] = ["#1b6ac9", "#74c0fc", "#2b8a3e", "#e8590c", "#c2255c", \
                    "#862e9c", "#495057", "#f59f00", "#0c8599", "#d9480f"]
array inputs[3] = ["normal", "relu", "mean1"]
array ititles[3] = ["N(0,1)", "ReLU(N(0,1))", "N(1,1)"]
array icolors[3] = ["#1b6ac9", "#e8590c", "#2b8a3e"]

do for [t = 1:2] {
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,620 font "Sans,11" enhanced
		} else {
			set terminal png size 1400,620 enhanced
		}
		ext = ".png"
	} else {
		set terminal svg size 1400,620 font "Sans,11" enhanced
		ext = ".svg"
	}

	# ---- the overview: a line per algorithm ----
	set output "docs/precision_conv" . ext
	set multiplot layout 1,2 title "Convolution error vs number format " . \
		"(policy all: every operation rounded; fp32: the native kernels; " . \
		"error against fp64 on the same rounded inputs, 50 trials)"
	set title "47x47, C=1, K=1, 3x3, standard normal: mean |error|"
	set ylabel "mean |y - y_{ref}|"
	set yrange [1e-8:1e3]
	set key at graph 0.70, graph 0.03 bottom right vertical maxrows 8 spacing 1.0 samplen 2 font ",9"
	plot for [a = 1:8] sel(conv, "47x47 C1 K1 3x3", "normal", algos[a], 9, "all") \
		using 1:2 with linespoints lw 2 pt 7 ps 0.7 lc rgb colors[a] \
		title titles[a]
	set title "14x14, C=64, K=2, 3x3, ReLU inputs: relative L2 error"
	set ylabel "||y - y_{ref}||_2 / ||y_{ref}||_2"
	set yrange [1e-9:1e3]
	plot for [a = 1:8] sel(conv, "14x14 C64 K2 3x3", "relu", algos[a], 11, "all") \
		using 1:2 with linespoints lw 2 pt 7 ps 0.7 lc rgb colors[a] \
		title titles[a]
	unset multiplot
	unset output

	# ---- per algorithm ----
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1500,1000 font "Sans,10" enhanced
		} else {
			set terminal png size 1500,1000 enhanced
		}
	} else {
		set terminal svg size 1500,1000 font "Sans,10" enhanced
	}
	set output "docs/precision_conv_detail" . ext
	set multiplot layout 3,4 title "Relative L2 error per algorithm " . \
		"(3x3: 16x16 C16 K4; 5x5: 12x12 C8 K4; solid: policy all, " . \
		"dashed: acc32 (fp32 sums); colors: inputs)"
	set yrange [1e-9:1e3]
	set ylabel "relative L2 error"
	set xtics font ",8"
	do for [a = 1:10] {
		lay = a >= 9 ? "12x12 C8 K4 5x5" : "16x16 C16 K4 3x3"
		set title titles[a]
		if (a == 1) {
			set key inside left top font ",8" samplen 2 spacing 0.9
		} else {
			unset key
		}
		plot for [i = 1:3] sel(conv, lay, inputs[i], algos[a], 11, "all") \
			using 1:2 with linespoints lw 1.5 pt 7 ps 0.5 lc rgb icolors[i] \
			title ititles[i] . " all", \
		     for [i = 1:3] sel(conv, lay, inputs[i], algos[a], 11, "acc32") \
			using 1:2 with linespoints lw 1.5 dt 2 pt 6 ps 0.5 \
			lc rgb icolors[i] title ititles[i] . " acc32"
	}
	unset multiplot
	unset output
	set xtics font ",10"

	# ---- interpolation points ----
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,900 font "Sans,10" enhanced
		} else {
			set terminal png size 1400,900 enhanced
		}
	} else {
		set terminal svg size 1400,900 font "Sans,10" enhanced
	}
	set output "docs/precision_points" . ext
	set multiplot layout 2,2 title "Winograd interpolation points: " . \
		"relative L2 error divided by that of the default points " . \
		"(below 1: better), standard normal, 50 trials"
	set xtics ("fp64" 0, "fp32" 1, "bf16" 2, "bf16:acc32" 3, "fp16" 4, \
	           "fp16:acc32" 5, "int16" 6, "int8" 7)
	set xrange [-0.3:7.3]
	set yrange [0.1:300]
	set format y "%g"
	set ylabel "error / error of the default points"
	set key inside left top font ",8" samplen 2 spacing 0.9 maxrows 3
	do for [v = 1:4] {
		var = v == 1 ? "F(4;3)" : v == 2 ? "F(6;3)" : v == 3 ? "F(2;5)" : "F(4;5)"
		lay = v <= 2 ? "16x16 C16 K4 3x3" : "12x12 C8 K4 5x5"
		vt = v == 1 ? "F(4,3)" : v == 2 ? "F(6,3)" : v == 3 ? "F(2,5)" : "F(4,5)"
		set title vt . ", " . lay
		plot for [k = 1:6] sprintf("< awk -F, 'NR > 1 && $3 == \"%s\" && " . \
			"$1 == \"%s\" { if ($4 != last) { c++; last = $4 } " . \
			"if (c == 1) def[$6] = $12; if (c == %d) " . \
			"{ i = $6; x = i <= 1 ? i : (i <= 7 ? i - 2 : i - 6); " . \
			"print x, $12 / def[$6] } }' %s", var, lay, k, pts) using 1:2 \
			with linespoints lw 1.5 pt 7 ps 0.6 \
			title system(sprintf("awk -F, 'NR > 1 && $3 == \"%s\" && " . \
			"$1 == \"%s\" { if ($4 != last) { c++; last = $4; " . \
			"if (c == %d) print $4 } }' %s", var, lay, k, pts))
	}
	unset multiplot
	unset output
	set format y "10^{%L}"
	set ylabel "relative L2 error"

	# ---- summation ----
	if (t == 1) {
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1400,560 font "Sans,10" enhanced
		} else {
			set terminal png size 1400,560 enhanced
		}
	} else {
		set terminal svg size 1400,560 font "Sans,10" enhanced
	}
	set output "docs/precision_summation" . ext
	set multiplot layout 1,2 title "Channel summation: pairwise (solid) " . \
		"vs sequential (dashed), standard normal inputs, 50 trials"
	set xtics ("tf32" 0, "tf32:acc32" 1, "bf16" 2, "bf16:acc32" 3, \
	           "fp16" 4, "fp16:acc32" 5, "e5m2" 6, "e4m3" 7)
	set xrange [-0.3:7.3]
	set yrange [1e-4:10]
	set key inside left top font ",9"
	array salgos[3] = ["direct", "F(4;3)", "fft"]
	array stitles[3] = ["direct", "Winograd F(4,3)", "tiled FFT"]
	array scolors[3] = ["#1b6ac9", "#e8590c", "#495057"]
	do for [l = 1:2] {
		lay = l == 1 ? "14x14 C64 K2 3x3" : "8x8 C256 K2 3x3"
		set title lay
		plot for [a = 1:3] sprintf("< awk -F, 'NR > 1 && " . \
			"$1 == \"%s\" && $2 == \"normal\" && $3 == \"%s\" && " . \
			"$4 == \"pairwise\" { i = $6; x = i <= 8 ? i - 2 : 7; print x, $12 }' %s", \
			lay, salgos[a], summ) \
			using 1:2 with linespoints lw 1.5 dt 1 pt 7 ps 0.6 \
			lc rgb scolors[a] title stitles[a] . " pairwise", \
		     for [a = 1:3] sprintf("< awk -F, 'NR > 1 && " . \
			"$1 == \"%s\" && $2 == \"normal\" && $3 == \"%s\" && " . \
			"$4 == \"sequential\" { i = $6; x = i <= 8 ? i - 2 : 7; print x, $12 }' %s", \
			lay, salgos[a], summ) \
			using 1:2 with linespoints lw 1.5 dt 2 pt 6 ps 0.6 \
			lc rgb scolors[a] title stitles[a] . " sequential"
	}
	unset multiplot
	unset output
}
