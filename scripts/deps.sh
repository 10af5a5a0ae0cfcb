#!/bin/sh
# Install the Debian packages dpgen needs, only those that are missing.
# Usage: scripts/deps.sh [base|bench]
#   base  - what `make`, `make demo` and `make check` need
#   bench - base plus oneDNN, the speed anchor of the benchmarks
#   fuzz  - base plus clang's sanitizer and libFuzzer runtime
#   valgrind - base plus valgrind
# As root it runs apt-get; otherwise it prints the exact command and fails,
# so a user is never surprised by sudo.
set -eu

base="build-essential clang pkg-config liblua5.4-dev liblapacke-dev \
libopenblas-dev libfftw3-dev zlib1g-dev libpng-dev perl gnuplot-nox"
case "${1:-base}" in
  base) want=$base ;;
  bench) want="$base libdnnl-dev" ;;
  fuzz) want="$base libclang-rt-14-dev" ;;
  valgrind) want="$base valgrind" ;;
  *) echo "deps.sh: unknown set '$1' (allowed: base, bench, fuzz, valgrind)" >&2
     exit 2 ;;
esac

missing=""
for p in $want; do
  # dpkg-query reports "install ok installed" only for a fully installed package.
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "dpgen needs these Debian packages:$missing" >&2
  echo "Install them as root, then run make again:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet; update only when needed.
if ! apt-get install -y --no-install-recommends $missing; then
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi
