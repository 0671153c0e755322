// Developer-only: llama.cpp's (node-llama-cpp, CPU) speed on a GGUF file,
// measured like llama-bench's pp512/tg128 and `chatloop model bench`:
// random tokens, an empty sequence each run, the median of the runs.
//
//   node engine-bench.mjs FILE.gguf [threads=2] [runs=3] [parallel=0]
//
// Prints {"pp512": tok/s, "tg128": tok/s, "load_ms": ms, "rss_bytes": n,
// "rss_base_bytes": n, "cpu_variant": "zen4"} and, with parallel > 0,
// "tg128_parallel": the aggregate tok/s of that many sequences generating
// 128 tokens each at the same time (node-llama-cpp batches them into one
// llama_decode per step). rss_base_bytes is node's own resident memory
// with llama.cpp loaded but no model. cpu_variant is the libggml-cpu-*.so
// that ggml's backend loader chose for this CPU (the best it scores),
// read from /proc/self/maps.
import { getLlama } from "node-llama-cpp";
import { readFileSync } from "node:fs";

const [file, threadsArg = "2", runsArg = "3", parallelArg = "0"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node engine-bench.mjs FILE.gguf [threads] [runs] [parallel]");
  process.exit(2);
}
const threads = Number(threadsArg), runs = Number(runsArg), parallel = Number(parallelArg);
const pp = 512, tg = 128;

const llama = await getLlama({ gpu: false, logLevel: "error" });
const rssBase = process.memoryUsage().rss;
let t0 = performance.now();
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
const loadMs = performance.now() - t0;
const context = await model.createContext({ contextSize: 1024, batchSize: 512, threads, flashAttention: false, sequences: 1 });
const nVocab = model.tokens.vocabSize ?? 151936;

let seed = 1;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const round2 = (x) => Math.round(x * 100) / 100;

// generate lets seq produce n tokens greedily (sampled inside llama.cpp)
// after one random token, and returns how many it produced.
async function generate(seq, n) {
  let got = 0;
  for await (const _ of seq.evaluate([rand() % nVocab], { temperature: 0, yieldEogToken: true })) {
    if (++got >= n) break;
  }
  return got;
}

const pps = [], tgs = [];
for (let r = 0; r < runs; r++) {
  let seq = context.getSequence();
  const prompt = Array.from({ length: pp }, () => rand() % nVocab);
  t0 = performance.now();
  await seq.controlledEvaluate(prompt.map((t, i) => i === pp - 1 ? [t, { generateNext: { token: true } }] : t));
  pps.push(pp / ((performance.now() - t0) / 1000));
  await seq.dispose();

  seq = context.getSequence();
  t0 = performance.now();
  const n = await generate(seq, tg);
  tgs.push(n / ((performance.now() - t0) / 1000));
  await seq.dispose();
}
const out = {
  pp512: round2(median(pps)),
  tg128: round2(median(tgs)),
  load_ms: Math.round(loadMs),
  rss_bytes: process.memoryUsage().rss,
  rss_base_bytes: rssBase,
};
await context.dispose();

if (parallel > 0) {
  // Each sequence needs tg+1 positions; llama.cpp splits the context
  // evenly between the sequences.
  const pctx = await model.createContext({ contextSize: parallel * 256, batchSize: 512, threads, flashAttention: false, sequences: parallel });
  const aggs = [];
  for (let r = 0; r < runs; r++) {
    const seqs = Array.from({ length: parallel }, () => pctx.getSequence());
    t0 = performance.now();
    const counts = await Promise.all(seqs.map((s) => generate(s, tg)));
    aggs.push(counts.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000));
    await Promise.all(seqs.map((s) => s.dispose()));
  }
  out.tg128_parallel = round2(median(aggs));
  out.parallel = parallel;
  await pctx.dispose();
}

out.cpu_variant = cpuVariant();
console.log(JSON.stringify(out));
await model.dispose();

function cpuVariant() {
  try {
    const libs = readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu[^\s/]*\.so/g) ?? [];
    const names = [...new Set(libs)].map((l) => l.replace(/^libggml-cpu-?/, "").replace(/\.so$/, "") || "generic");
    return names.join(",") || "unknown";
  } catch {
    return "unknown";
  }
}
