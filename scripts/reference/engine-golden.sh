#!/bin/sh
# Developer-only: regenerates model/testdata/engine-golden.json (see
# engine-golden.mjs) with llama.cpp on ggml's portable CPU build.
# node-llama-cpp loads the best libggml-cpu-*.so for this CPU (zen4,
# haswell, ...), whose SIMD kernels quantize activations and sum in other
# orders than model/ggml, which follows the portable build (x64) to the
# bit. So run from a copy of node_modules holding only libggml-cpu-x64.so
# (hard links where possible).
#
#   sh scripts/reference/engine-golden.sh [name-filter-regexp [out.json]]
set -eu
cd "$(dirname "$0")/../.."
repo=$(pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/reference"
cp -al scripts/reference/node_modules "$dir/reference/" 2>/dev/null ||
	cp -a scripts/reference/node_modules "$dir/reference/"
cp scripts/reference/engine-golden.mjs scripts/reference/package.json "$dir/reference/"
found=
for f in "$dir"/reference/node_modules/@node-llama-cpp/linux-x64/bins/*/libggml-cpu-*.so; do
	case "$f" in
	*/libggml-cpu-x64.so) found=1 ;;
	*) rm -f "$f" ;;
	esac
done
[ -n "$found" ] || { echo "no libggml-cpu-x64.so in @node-llama-cpp/linux-x64" >&2; exit 1; }
out=${2:-$repo/model/testdata/engine-golden.json}
case "$out" in /*) ;; *) out=$repo/$out ;; esac
CHATLOOP_REPO="$repo/" node "$dir/reference/engine-golden.mjs" "${1:-.}" "$out"
