#!/bin/sh
# Developer-only: regenerates model/arch/testdata/ggml-exp-x64.bin (ggml's
# exp and SiLU, from node-llama-cpp's libggml-cpu-x64.so; see
# llama-dump-exp.c) and model/arch/testdata/glibc-sincosf.bin (glibc's
# sinf/cosf, which ggml's rope calls; see llama-dump-sincosf.c). Needs gcc,
# an x86-64 CPU with FMA and glibc 2.28 or later.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bins=$(ls -d "$here"/node_modules/@node-llama-cpp/linux-x64/bins/*/ | head -n 1)
out="$here/../../model/arch/testdata"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -qw fma /proc/cpuinfo || { echo "this CPU has no FMA: glibc would use its other build" >&2; exit 1; }
gcc -O1 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/llama-dump-exp" "$here/llama-dump-exp.c" -ldl -lm
gcc -O1 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/llama-dump-sincosf" "$here/llama-dump-sincosf.c" -lm
mkdir -p "$out"
"$tmp/llama-dump-exp" "$bins/libggml-cpu-x64.so" > "$out/ggml-exp-x64.bin"
"$tmp/llama-dump-sincosf" > "$out/glibc-sincosf.bin"
ldd --version | head -n 1 >&2
