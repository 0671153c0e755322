#!/bin/sh
# Developer-only: the cost of serving a LoRA adapter, on a Qwen2.5-0.5B-
# shaped model with random weights and a random rank-8 adapter on every
# attention and MLP projection (what chatloop tune writes by default), at
# 2 threads: `chatloop model bench` (pp, tg, RSS, load time) for the base
# alone, the adapter as a side path (the default) and merged at load.
#
#   sh scripts/lora-bench.sh [types...]   (default: Q8_0 F16)
#
# ROUNDS=n runs the three modes n times in turn (on a busy machine, compare
# runs of one round); PP and TG set the test sizes (default 128 and 32).
set -eu
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/chatloop" ./cmd/chatloop
pp=${PP:-128}
tg=${TG:-32}
for t in ${@:-Q8_0 F16}; do
	f="$dir/qwen2.5-0.5b-$t.gguf"
	a="$dir/lora-r8.gguf"
	go run ./scripts/reference/engine-genmodel -shape qwen2.5-0.5b -type "$t" -out "$f" 2>/dev/null
	go run ./scripts/lora-genadapter -base "$f" -rank 8 -alpha 16 -out "$a"
	echo "== $t: model $(du -h "$f" | cut -f1), adapter $(du -h "$a" | cut -f1) =="
	for mode in $(for _ in $(seq "${ROUNDS:-1}"); do echo base side merged; done); do
		case $mode in
		base) flags= ;;
		side) flags="--lora $a" ;;
		merged) flags="--lora $a --lora-merge" ;;
		esac
		printf '%-7s ' "$mode"
		# shellcheck disable=SC2086
		"$dir/chatloop" model bench --model "$f" --threads 2 --pp "$pp" --tg "$tg" --repetitions 3 --json $flags |
			sed 's/"adapters":\[.*\]/"adapters":…/'
	done
done
