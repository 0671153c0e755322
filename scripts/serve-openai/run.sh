#!/usr/bin/env bash
# Drives `chatloop serve` with the official OpenAI client library (npm
# package `openai`): streaming, non-streaming, n = 2, stop strings, tools,
# cancellation, and errors in the OpenAI error shape. A developer check,
# not run in CI (it needs npm):
#
#	bash scripts/serve-openai/run.sh
#
# It writes a tiny model with random weights (no download), starts the
# server on a free loopback port with an API key, runs client.mjs and
# stops the server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

(cd "$here" && [ -d node_modules/openai ] || npm install --no-audit --no-fund --silent)
cd "$root"
go build -o "$work/chatloop" ./cmd/chatloop
go run ./scripts/reference/engine-genmodel -shape tiny-qwen2 -type Q8_0 -out "$work/tiny-qwen2-q8_0.gguf" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CHATLOOP_API_KEY=sk-local-check "$work/chatloop" serve --config /dev/null --model "$work/tiny-qwen2-q8_0.gguf" --listen "127.0.0.1:$port" --context 512 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done
BASE_URL="http://127.0.0.1:$port/v1" API_KEY=sk-local-check MODEL=tiny-qwen2-q8_0 node "$here/client.mjs"
echo "--- server log"
cat "$work/serve.log"
