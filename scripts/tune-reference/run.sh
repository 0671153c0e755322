#!/bin/sh
# Checks chatloop's LoRA gradient of the DPO (and IPO) loss against PyTorch
# on a tiny F32 model: the Go side writes the model, an adapter, a pair and
# its loss and gradient; reference.py recomputes them in float64.
# Needs Debian's PyTorch: apt-get install -y python3-torch (for /usr/bin/python3).
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for loss in dpo ipo; do
	echo "== $loss"
	go run ./scripts/tune-reference -out "$dir/$loss" -loss "$loss"
	/usr/bin/python3 scripts/tune-reference/reference.py "$dir/$loss"
done
