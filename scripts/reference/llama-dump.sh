#!/bin/sh
# Developer-only: builds llama-dump.c against the llama.cpp headers of
# node-llama-cpp's git bundle and runs it on ggml's portable CPU build
# (libggml-cpu-x64.so, the variant model/ggml follows to the bit; set
# LLAMA_DUMP_CPU=haswell etc. for another), writing llama.cpp's logits at
# every step and its intermediate tensors at the chosen steps to OUT.
# Needs gcc and git; nothing in the Go tests uses it.
#
#   sh scripts/reference/llama-dump.sh MODEL.gguf PROMPT_IDS CONT_IDS DUMPSTEPS OUT [THREADS]
#
# e.g. (ids comma-separated, as in model/testdata/engine-golden.json):
#   go test ./model -run TestWriteGoldenModels -golden-models /tmp/gm -golden-filter llama-Q6_K
#   sh scripts/reference/llama-dump.sh /tmp/gm/llama-Q6_K.gguf 128000,791,6864 1,2,3 0,3 /tmp/ref
# and chatloop's logits at every step, to compare with cmp:
#   go test ./model -run TestWriteStepLogits -step-logits-model /tmp/gm/llama-Q6_K.gguf \
#     -step-logits-prompt 128000,791,6864 -step-logits-cont 1,2,3 -step-logits-out /tmp/ours
#   for s in 0 1 2 3; do cmp /tmp/ref/logits-$s.f32 /tmp/ours/logits-$s.f32; done
set -eu
[ $# -ge 5 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bins=$(ls -d "$here"/node_modules/@node-llama-cpp/linux-x64/bins/*/ | head -n 1)
llama=$(ls "$bins"/libllama.v*.so | head -n 1)
ggml=$(ls "$bins"/libggml.v*.so | head -n 1)
cpu="$bins/libggml-cpu-${LLAMA_DUMP_CPU:-x64}.so"
[ -f "$cpu" ] || { echo "no $cpu" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --depth 1 "$here/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$tmp/llama.cpp" 2>/dev/null ||
	git clone -q "$here/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$tmp/llama.cpp"
gcc -O1 -std=c11 -D_GNU_SOURCE -Wall -o "$tmp/llama-dump" "$here/llama-dump.c" \
	-I"$tmp/llama.cpp/include" -I"$tmp/llama.cpp/ggml/include" \
	"$llama" "$ggml" "$bins/libggml-base.so" -Wl,-rpath,"$bins"
case "$5" in /*) out=$5 ;; *) out=$(pwd)/$5 ;; esac
"$tmp/llama-dump" "$cpu" "$1" "$2" "$3" "$4" "$out" "${6:-2}"
