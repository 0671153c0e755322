#!/bin/sh
# Developer-only: regenerates model/testdata/lora-golden.json (see
# lora-golden.mjs) with llama.cpp on ggml's portable CPU build, as
# engine-golden.sh does: from a copy of node_modules holding only
# libggml-cpu-x64.so. Needs `npm install` in scripts/reference first.
#
#   sh scripts/reference/lora-golden.sh [out.json]
set -eu
cd "$(dirname "$0")/../.."
repo=$(pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/reference"
cp -al scripts/reference/node_modules "$dir/reference/" 2>/dev/null ||
	cp -a scripts/reference/node_modules "$dir/reference/"
cp scripts/reference/lora-golden.mjs scripts/reference/package.json "$dir/reference/"
found=
for f in "$dir"/reference/node_modules/@node-llama-cpp/linux-x64/bins/*/libggml-cpu-*.so; do
	case "$f" in
	*/libggml-cpu-x64.so) found=1 ;;
	*) rm -f "$f" ;;
	esac
done
[ -n "$found" ] || { echo "no libggml-cpu-x64.so in @node-llama-cpp/linux-x64" >&2; exit 1; }
out=${1:-$repo/model/testdata/lora-golden.json}
case "$out" in /*) ;; *) out=$repo/$out ;; esac
CHATLOOP_REPO="$repo/" node "$dir/reference/lora-golden.mjs" "$out"
