#!/bin/sh
# Developer-only: chatloop's engine beside llama.cpp (node-llama-cpp, CPU)
# on Qwen2.5-0.5B-shaped models with random weights, at 2 threads:
# load time, resident memory, pp512 and tg128 (median of 3 runs each), raw.
# scripts/bench-vs-llamacpp.sh puts the same runs in one table with ratios
# and the memory-bandwidth limit.
#
#   sh scripts/reference/engine-bench.sh [types...]   (default: Q8_0 F16; Q4_K_M is the mix)
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/chatloop" ./cmd/chatloop
for t in ${@:-Q8_0 F16}; do
	f="$dir/qwen2.5-0.5b-$t.gguf"
	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type "$t" -out "$f"
	echo "== $t: $(du -h "$f" | cut -f1) =="
	echo "chatloop:"
	"$dir/chatloop" model bench --model "$f" --threads 2
	"$dir/chatloop" model bench --model "$f" --threads 2 --json
	echo "llama.cpp:"
	(cd scripts/reference && node engine-bench.mjs "$f" 2 3)
done
