#!/bin/sh
# chatloop's engine beside llama.cpp on the same GGUF files, at the same
# thread count, measured the same way (llama-bench's pp512 and tg128:
# random tokens, an empty cache each run, the median of REPS runs), with
# this machine's memory bandwidth and the generation speed it allows.
#
#   sh scripts/bench-vs-llamacpp.sh [shape:type ...]
#
# shape:type is what scripts/reference/engine-genmodel writes (random
# weights, real shapes and vocabulary): qwen2.5-0.5b or qwen2.5-1.5b, and a
# tensor type (Q8_0, F16, ...) or the mix Q4_K_M. Default:
#   qwen2.5-0.5b:Q8_0 qwen2.5-0.5b:Q4_K_M qwen2.5-1.5b:Q4_K_M
# Environment: THREADS (2), REPS (3), PARALLEL (4: concurrent chats for the
# aggregate generation column, 0 to skip), MODELS_DIR (keep the written
# models there and reuse them on the next run instead of a temporary
# directory; delete them after changing model/testmodel), LLAMA_CPU (a
# ggml CPU variant, e.g. haswell or alderlake: llama.cpp loads that one
# instead of the one its loader picks, from a copy of node_modules holding
# only it). To measure a CPU without AVX-512 on one that has it, mask it
# for chatloop and pick llama.cpp's matching build:
#   GODEBUG=cpu.avx512f=off LLAMA_CPU=alderlake sh scripts/bench-vs-llamacpp.sh
#   GODEBUG=cpu.avx512f=off,cpu.avxvnni=off LLAMA_CPU=haswell sh scripts/bench-vs-llamacpp.sh
#
# llama.cpp is node-llama-cpp's prebuilt CPU build (scripts/reference; run
# `npm install` there first, or this script does), with the ggml CPU variant its
# loader picks for this CPU (printed). Models go to a temporary directory,
# removed at exit; the 1.5B one takes a few minutes to write.
set -eu
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null 2>&1; then
	echo "bench-vs-llamacpp: node (Node.js 20 or later) is missing: it runs llama.cpp through node-llama-cpp. Install Node.js, then run this again." >&2
	exit 1
fi
if ! command -v go >/dev/null 2>&1; then
	echo "bench-vs-llamacpp: go is missing" >&2
	exit 1
fi
THREADS=${THREADS:-2}
REPS=${REPS:-3}
PARALLEL=${PARALLEL:-4}
models=${*:-qwen2.5-0.5b:Q8_0 qwen2.5-0.5b:Q4_K_M qwen2.5-1.5b:Q4_K_M}

if [ ! -d scripts/reference/node_modules/node-llama-cpp ]; then
	# npm install, not npm ci: npm 11's ci refuses a lock file that lists
	# only the Linux builds among node-llama-cpp's per-platform packages;
	# install takes the lock file's versions all the same.
	echo "installing node-llama-cpp (npm install in scripts/reference)..." >&2
	(cd scripts/reference && npm install --no-audit --no-fund) >&2
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM
refdir=scripts/reference
if [ -n "${LLAMA_CPU:-}" ]; then
	mkdir "$dir/reference"
	cp -al scripts/reference/node_modules "$dir/reference/" 2>/dev/null ||
		cp -a scripts/reference/node_modules "$dir/reference/"
	cp scripts/reference/engine-bench.mjs scripts/reference/package.json "$dir/reference/"
	found=
	for f in "$dir"/reference/node_modules/@node-llama-cpp/linux-x64/bins/*/libggml-cpu-*.so; do
		case "$f" in
		*/libggml-cpu-"$LLAMA_CPU".so) found=1 ;;
		*) rm -f "$f" ;;
		esac
	done
	[ -n "$found" ] || { echo "bench-vs-llamacpp: no libggml-cpu-$LLAMA_CPU.so in @node-llama-cpp/linux-x64" >&2; exit 1; }
	refdir=$dir/reference
fi
go build -o "$dir/chatloop" ./cmd/chatloop
go build -o "$dir/genmodel" ./scripts/reference/engine-genmodel
go build -o "$dir/membw" ./scripts/membw

parflag=
if [ "$PARALLEL" -gt 0 ] && "$dir/chatloop" model bench --help 2>&1 | grep -q -- '--parallel'; then
	parflag="--parallel $PARALLEL"
fi

echo "load before: $(uptime)" >&2
# Memory bandwidth is measured right before and right after each model's
# chatloop run (a shared machine's bandwidth drifts by a quarter within
# minutes), and the higher of the two sets that model's generation limit.
membw() {
	echo "   memory bandwidth (1 GiB, 1 and $THREADS goroutines)..." >&2
	"$dir/membw" -threads "1,$THREADS" -json >"$1"
}

i=0
for m in $models; do
	i=$((i + 1))
	shape=${m%%:*}
	type=${m#*:}
	echo "== $shape $type" >&2
	if [ -n "${MODELS_DIR:-}" ]; then
		mkdir -p "$MODELS_DIR"
		f="$MODELS_DIR/$shape-$type.gguf"
	else
		f="$dir/$i.gguf"
	fi
	if [ -s "$f" ]; then
		echo "   reusing $f" >&2
		"$dir/genmodel" -shape "$shape" -type "$type" -n -stats "$dir/$i.stats.json" 2>/dev/null
	else
		"$dir/genmodel" -shape "$shape" -type "$type" -out "$f.tmp" -stats "$dir/$i.stats.json"
		mv "$f.tmp" "$f"
	fi
	stat -c %s "$f" >"$dir/$i.size"
	membw "$dir/$i.membw0.json"
	echo "   chatloop..." >&2
	# shellcheck disable=SC2086 # $parflag is a flag and its value, or nothing
	"$dir/chatloop" model bench --model "$f" --threads "$THREADS" --repetitions "$REPS" --json $parflag >"$dir/$i.chatloop.json"
	membw "$dir/$i.membw1.json"
	echo "   llama.cpp..." >&2
	(cd "$refdir" && node engine-bench.mjs "$f" "$THREADS" "$REPS" "$PARALLEL") >"$dir/$i.llama.json"
	[ -n "${MODELS_DIR:-}" ] || rm -f "$f"
done
echo "load after:  $(uptime)" >&2

node - "$dir" "$i" "$THREADS" "$REPS" "$PARALLEL" <<'EOF'
const fs = require("fs");
const [dir, n, threads, reps, parallel] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8"));
const MiB = 1 << 20;
const par = Number(parallel) > 0;
// The aggregate generation speed of parallel chats: chatloop's --json
// gives {"tg128_parallel": {"n": 4, "tok_s": x}}, engine-bench.mjs a number.
const parOf = (j) => {
  const v = j.tg128_parallel;
  if (typeof v === "number") return v;
  if (v && typeof v.tok_s === "number") return v.tok_s;
  return null;
};
const f1 = (x) => (x == null ? "–" : x.toFixed(1));
const f2 = (x) => (x == null ? "–" : x.toFixed(2));
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)} %`);
const rows = [];
const variants = new Set();
const kernels = new Set();
const bws = [];
let nodeBase = null;
for (let i = 1; i <= Number(n); i++) {
  const st = read(`${i}.stats.json`), size = Number(fs.readFileSync(`${dir}/${i}.size`, "utf8"));
  const c = read(`${i}.chatloop.json`), l = read(`${i}.llama.json`);
  const bw0 = read(`${i}.membw0.json`)[`threads_${threads}`], bw1 = read(`${i}.membw1.json`)[`threads_${threads}`];
  const gbs = Math.max(bw0, bw1);
  bws.push(`${st.shape} ${st.type}: ${bw0} and ${bw1}`);
  variants.add(l.cpu_variant);
  if (c.kernels) kernels.add(c.kernels);
  nodeBase = l.rss_base_bytes;
  const limit = (gbs * 1e9) / st.bytes_per_token;
  const model = `${st.shape} ${st.type}`;
  const lrss = l.rss_bytes - l.rss_base_bytes;
  const cp = parOf(c), lp = parOf(l);
  rows.push(["chatloop", model, size / MiB, c.pp512, c.tg128, c.pp512 / l.pp512, c.tg128 / l.tg128,
    ...(par ? [cp, cp && cp / c.tg128, cp && lp && cp / lp] : []),
    c.rss_bytes / MiB, (c.rss_bytes - size) / MiB, gbs, limit, c.tg128 / limit]);
  rows.push(["llama.cpp", model, size / MiB, l.pp512, l.tg128, null, null,
    ...(par ? [lp, lp && lp / l.tg128, null] : []),
    lrss / MiB, (lrss - size) / MiB, gbs, limit, l.tg128 / limit]);
}
const head = ["engine", "model", "file MiB", "pp512 tok/s", "tg128 tok/s", "pp ratio", "tg ratio",
  ...(par ? [`tg ×${parallel} chats tok/s`, `×${parallel} ÷ tg128`, `×${parallel} ratio`] : []),
  "RSS MiB", "RSS − file MiB", "GB/s", "tg limit tok/s", "tg ÷ limit"];
const fmt = [String, String, f1, f1, f1, f2, f2, ...(par ? [f1, f2, f2] : []), f1, f1, f1, f1, pct];
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`);
for (const r of rows) console.log(`| ${r.map((v, i) => fmt[i](v)).join(" | ")} |`);
console.log();
console.log(`${threads} threads, median of ${reps} runs each. Ratios: chatloop ÷ llama.cpp.${par ? ` ×${parallel} ÷ tg128: the aggregate of ${parallel} chats ÷ one chat, same engine.` : ""}`);
console.log(`GB/s: memory bandwidth with ${threads} goroutines (scripts/membw, 1 GiB streaming read, median of 7 passes), measured right`);
console.log(`before and right after chatloop's run of the model (${bws.join("; ")} GB/s); the row takes the higher.`);
console.log(`tg limit = GB/s ÷ the bytes one token reads (every weight once; a tied token_embd is the output matrix);`);
console.log(`tg ÷ limit: the share of that limit the engine's tg128 reaches.`);
console.log(`chatloop: kernel set ${[...kernels].join(", ") || "unknown"}${process.env.GODEBUG ? ` (GODEBUG=${process.env.GODEBUG})` : ""}.`);
console.log(`llama.cpp: node-llama-cpp's prebuilt CPU build, ggml CPU variant ${[...variants].join(", ")}; its RSS is node's minus node's own`);
console.log(`before loading the model (${f1(nodeBase / MiB)} MiB).${par ? ` tg ×${parallel}: ${parallel} sequences of 128 tokens decoded together, aggregate tok/s.` : ""}`);
EOF
