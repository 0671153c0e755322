// Developer-only: llama.cpp's (node-llama-cpp, CPU) speed on a GGUF file,
// measured like llama-bench's pp512/tg128 and `chatloop model bench`:
// random tokens, an empty sequence each run, the median of the runs.
//
//   node engine-bench.mjs FILE.gguf [threads=2] [runs=3]
//
// Prints {"pp512": tok/s, "tg128": tok/s, "load_ms": ms, "rss_bytes": n}.
import { getLlama } from "node-llama-cpp";

const [file, threadsArg = "2", runsArg = "3"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node engine-bench.mjs FILE.gguf [threads] [runs]");
  process.exit(2);
}
const threads = Number(threadsArg), runs = Number(runsArg);
const pp = 512, tg = 128;

const llama = await getLlama({ gpu: false, logLevel: "error" });
let t0 = performance.now();
const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
const loadMs = performance.now() - t0;
const context = await model.createContext({ contextSize: 1024, batchSize: 512, threads, flashAttention: false, sequences: 1 });
const nVocab = model.tokens.vocabSize ?? 151936;

let seed = 1;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

const pps = [], tgs = [];
for (let r = 0; r < runs; r++) {
  let seq = context.getSequence();
  const prompt = Array.from({ length: pp }, () => rand() % nVocab);
  t0 = performance.now();
  await seq.controlledEvaluate(prompt.map((t, i) => i === pp - 1 ? [t, { generateNext: { token: true } }] : t));
  pps.push(pp / ((performance.now() - t0) / 1000));
  await seq.dispose();

  // Generation: one token at a time, sampled greedily inside llama.cpp.
  seq = context.getSequence();
  t0 = performance.now();
  let n = 0;
  for await (const _ of seq.evaluate([rand() % nVocab], { temperature: 0, yieldEogToken: true })) {
    if (++n >= tg) break;
  }
  tgs.push(n / ((performance.now() - t0) / 1000));
  await seq.dispose();
}
console.log(JSON.stringify({
  pp512: Math.round(median(pps) * 100) / 100,
  tg128: Math.round(median(tgs) * 100) / 100,
  load_ms: Math.round(loadMs),
  rss_bytes: process.memoryUsage().rss,
}));
await context.dispose();
await model.dispose();
