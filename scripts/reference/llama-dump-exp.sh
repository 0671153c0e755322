#!/bin/sh
# Developer-only: regenerates model/arch/testdata/ggml-exp-x64.bin (see
# llama-dump-exp.c) from node-llama-cpp's libggml-cpu-x64.so. Needs gcc.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bins=$(ls -d "$here"/node_modules/@node-llama-cpp/linux-x64/bins/*/ | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O1 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/llama-dump-exp" "$here/llama-dump-exp.c" -ldl -lm
"$tmp/llama-dump-exp" "$bins/libggml-cpu-x64.so" > "$here/../../model/arch/testdata/ggml-exp-x64.bin"
