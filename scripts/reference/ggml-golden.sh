#!/bin/sh
# Regenerates model/ggml/testdata/golden-*.bin.gz from the ggml libraries
# bundled with node-llama-cpp (npm install in this directory first).
# Needs gcc; the Go tests only read the fixtures.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bins=$(ls -d "$here"/node_modules/@node-llama-cpp/linux-x64/bins/*/ | head -n 1)
out="$here/../../model/ggml/testdata"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O1 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/ggml-golden" "$here/ggml-golden.c" -ldl -lm
mkdir -p "$out"
# x64: the portable build (no SIMD), whose kernels chatloop must match bit
# for bit; haswell: the AVX2 build most x86 machines run.
"$tmp/ggml-golden" "$bins/libggml-base.so" "$bins/libggml-cpu-x64.so" | gzip -9n > "$out/golden-x64.bin.gz"
"$tmp/ggml-golden" "$bins/libggml-base.so" "$bins/libggml-cpu-haswell.so" cpu-only | gzip -9n > "$out/golden-haswell.bin.gz"
cat "$bins/_nlcBuildMetadata.json" > "$out/golden-source.json"
ls -l "$out"
