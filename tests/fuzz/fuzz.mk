# tests/fuzz/fuzz.mk - libFuzzer targets (issue 9), included by the Makefile
# (or: make -f Makefile -f tests/fuzz/fuzz.mk fuzz).
#
#   make fuzz [FUZZ_SECONDS=10] [FUZZ_TARGETS="cli npy"]
#
# Builds each tests/fuzz/fuzz_<target>.c with clang -fsanitize=fuzzer and
# ASan + UBSan in build-fuzz/ (the library sources with fuzzer-no-link),
# then runs each target for FUZZ_SECONDS on a scratch copy of its seed
# corpus tests/fuzz/corpus/<target>/ (so runs add nothing to the tree),
# with the dictionary tests/fuzz/<target>.dict if there is one.
# Fails if any target finds a crash, a leak or a hang (-timeout). Crash
# inputs land in build-fuzz/artifacts/<target>/; the regression inputs
# kept from earlier findings are in tests/fuzz/regress/ (t_fuzz_regress).
# The wisdom target (fuzz_wisdom.c, corpus/wisdom/) loads the input as a
# wisdom file and records a fixed result into a copy of it.

FUZZ_B := build-fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 10
FUZZ_TARGETS ?= cli shape npy idx lua wisdom
# Extra libFuzzer options, e.g. FUZZ_FLAGS=-jobs=2.
FUZZ_FLAGS ?=
# Where the targets write their per-process input files: tmpfs is several
# times faster than a disk-backed /tmp. Each run gets its own directory.
FUZZ_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm,/tmp)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := $(CSTD) $(WARN) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
	-Iruntime -Igenerator
FUZZ_LIB_SRC := $(RUNTIME_SRC) \
	generator/cli.c generator/luahost.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_B)/obj/%.o) \
	$(FUZZ_B)/obj/templates_embedded.o
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)

.PHONY: fuzz fuzz-build

fuzz-build: $(FUZZ_BINS)

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(LUA_CFLAGS) $(BLAS_CFLAGS) \
		-MMD -MP -c $< -o $@

$(FUZZ_B)/obj/embed: generator/embed.c
	@mkdir -p $(FUZZ_B)/obj
	$(FUZZ_CC) $(CSTD) $(WARN) -O1 $< -o $@

$(FUZZ_B)/obj/templates_embedded.c: $(FUZZ_B)/obj/embed $(TEMPLATES)
	$(FUZZ_B)/obj/embed $@ templates $(TEMPLATES)

$(FUZZ_B)/obj/templates_embedded.o: $(FUZZ_B)/obj/templates_embedded.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_B)/libdpgen-fuzz.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h \
		$(FUZZ_B)/libdpgen-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(LUA_CFLAGS) $< -o $@ \
		$(FUZZ_B)/libdpgen-fuzz.a $(LUA_LIBS) $(LIBS)

# -timeout: a template that loops must be stopped by the generator's own
# instruction limit long before this. -rss_limit_mb leaves room for the
# 1 GiB memory cap of the Lua sandbox under ASan.
# clang's libFuzzer and sanitizer runtime come from libclang-rt-14-dev.
fuzz-deps:
	@scripts/deps.sh fuzz

$(FUZZ_BINS): | fuzz-deps

fuzz: $(FUZZ_BINS)
	@fail=0; for t in $(FUZZ_TARGETS); do \
		work=$(FUZZ_B)/corpus/$$t; art=$(FUZZ_B)/artifacts/$$t; \
		log=$(FUZZ_B)/fuzz_$$t.log; \
		rm -rf $$work && mkdir -p $$work $$art && \
		cp tests/fuzz/corpus/$$t/* $$work/ && \
		tmp=$$(mktemp -d $(FUZZ_TMPDIR)/dpgen-fuzz.XXXXXX) || exit 1; \
		dict=; test -f tests/fuzz/$$t.dict && \
			dict=-dict=tests/fuzz/$$t.dict; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		if FUZZ_TMPDIR=$$tmp $(FUZZ_B)/fuzz_$$t \
			-max_total_time=$(FUZZ_SECONDS) -timeout=20 \
			-rss_limit_mb=4096 -print_final_stats=1 \
			-artifact_prefix=$$art/ $$dict $(FUZZ_FLAGS) $$work \
			> $$log 2>&1; then \
			grep -E '^stat::(number_of_executed_units|average_exec_per_sec):' \
				$$log; \
		else \
			fail=1; tail -n 40 $$log; \
			echo "fuzz $$t: FAILED (log $$log, inputs in $$art/)"; \
		fi; \
		rm -rf $$tmp; \
	done; exit $$fail

-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)
