#!/usr/bin/env bash
# scripts/valgrind.sh [BUILD_DIR] - valgrind memcheck over a representative
# subset of the tests (issue 9), with the environment make check-run sets.
#
#   make B=build build/tests/t_npy ... && bash scripts/valgrind.sh build
#
# Each test runs directly under memcheck; any memory error or definitely
# lost block fails it (--error-exitcode), as does a failing test. The
# subset touches the file readers (npy, idx), matmul, find/plan/execute,
# wisdom files and the run path; none of them builds and dlopens freshly
# generated kernels (slow under valgrind; make check-sanitize covers
# those). t_run's dpgen children are not traced (no --trace-children).
# Logs: BUILD_DIR/valgrind/<test>.log. Exit status 0 if all are clean.
set -u

B=${1:-build}
TESTS=${VALGRIND_TESTS:-"t_npy t_idx t_matmul t_find t_wisdom t_run"}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind not found" >&2
	exit 2
fi
if [ ! -x "$B/dpgen" ]; then
	echo "valgrind.sh: $B/dpgen missing (make build B=$B)" >&2
	exit 2
fi

export DPGEN="$root/$B/dpgen" DP_SRCDIR="$root"
export DP_KERNEL_CFLAGS="${KERNEL_CFLAGS:--O2}"
# One BLAS thread: faster under valgrind, which serialises threads anyway.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

logs="$B/valgrind"
mkdir -p "$logs"
fail=0
for t in $TESTS; do
	exe="$B/tests/$t"
	if [ ! -x "$exe" ]; then
		echo "$t: MISSING ($exe; make B=$B $exe)"
		fail=1
		continue
	fi
	start=$(date +%s)
	valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --track-origins=yes \
		--log-file="$logs/$t.log" "$exe" > "$logs/$t.tap" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' \
		"$logs/$t.log" | tail -n 1)
	tests=$(grep -c '^ok ' "$logs/$t.tap")
	nok=$(grep -c '^not ok ' "$logs/$t.tap")
	if [ "$rc" -eq 0 ]; then
		echo "$t: ok ($tests tests, ${errs:-?} valgrind errors, ${secs} s)"
	else
		echo "$t: FAILED (exit $rc, $nok of $((tests + nok)) tests not ok," \
			"${errs:-?} valgrind errors, ${secs} s; see $logs/$t.log)"
		fail=1
	fi
done
exit $fail
