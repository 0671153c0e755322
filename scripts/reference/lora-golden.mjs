// Developer-only: regenerates model/testdata/lora-golden.json, llama.cpp's
// answers on tiny base models with LoRA adapters written by model/lora (and
// one stored in F16 as llama.cpp's convert_lora_to_gguf.py writes them),
// which TestLoRAAgainstLlamaCpp compares against without node.
//
// 1. `go test ./model -run TestWriteLoRAGoldenModels -lora-golden-models DIR`
//    writes the bases, the adapters and DIR/manifest.json.
// 2. For each case, llama.cpp (node-llama-cpp, CPU, flash attention off)
//    loads the base with the adapters at their scales
//    (createContext({lora: {adapters: [{filePath, scale}]}})), records the
//    16 best raw logits after the prompt, decodes 32 tokens greedily, and
//    sums the log-probabilities of a fixed answer's tokens after the
//    prompt; then the same without the adapters, which shows that they
//    matter.
//
// Run through lora-golden.sh, which makes llama.cpp use ggml's portable
// CPU build (libggml-cpu-x64.so), the one model/ggml follows to the bit
// (see engine-golden.mjs).
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { getLlama } from "node-llama-cpp";

const repo = process.env.CHATLOOP_REPO ?? new URL("../../", import.meta.url).pathname;
const cpuVariant = "libggml-cpu-x64.so";
const out = process.argv[2] ?? join(repo, "model/testdata/lora-golden.json");
const steps = 32;
const threads = 2;

// run evaluates the prompt in a fresh sequence of context and returns the
// top logits after it, the greedy continuation and log p(answer | prompt).
async function run(model, context, promptText, answer) {
  let seq = context.getSequence();
  let prompt = model.tokenize(promptText, true);
  const addBos = model.fileInfo.metadata?.tokenizer?.ggml?.add_bos_token === true;
  if (addBos && model.tokens.bos != null) prompt = [model.tokens.bos, ...prompt];
  const first = await seq.controlledEvaluate(prompt.map((t, i) => i === prompt.length - 1
    ? [t, { generateNext: { token: true, logits: { filter: { includeTop: 16 } }, options: { temperature: 0 } } }]
    : t));
  const next = first[prompt.length - 1].next;
  const top = [...next.logits.entries()].sort((a, b) => b[1] - a[1]).map(([id, l]) => [id, l]);
  const greedy = [next.token];
  for await (const t of seq.evaluate([next.token], { temperature: 0, yieldEogToken: true })) {
    greedy.push(t);
    if (greedy.length >= steps) break;
  }
  if (greedy.length < steps) throw new Error(`generation ended after ${greedy.length} tokens`);
  await seq.dispose();

  // log p(answer | prompt): the log-softmax of each answer token over the
  // whole vocabulary's raw logits, in double precision.
  seq = context.getSequence();
  const input = [...prompt, ...answer];
  const want = (i) => i >= prompt.length - 1 && i < input.length - 1;
  const res = await seq.controlledEvaluate(input.map((t, i) => want(i) ? [t, { generateNext: { logits: true } }] : t));
  let logp = 0;
  for (let i = prompt.length - 1; i < input.length - 1; i++) {
    const logits = [...res[i].next.logits.values()];
    let max = -Infinity;
    for (const l of logits) max = Math.max(max, l);
    let z = 0;
    for (const l of logits) z += Math.exp(l - max);
    logp += res[i].next.logits.get(input[i + 1]) - max - Math.log(z);
  }
  await seq.dispose();
  return { prompt, top, greedy, logp };
}

const dir = mkdtempSync(join(tmpdir(), "chatloop-lora-golden-"));
try {
  execFileSync("go", ["test", "./model", "-run", "^TestWriteLoRAGoldenModels$", "-count=1", "-lora-golden-models", dir],
    { cwd: repo, stdio: "inherit" });
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const llama = await getLlama({ gpu: false, logLevel: "error" });
  const doc = {
    generator: "scripts/reference/lora-golden.mjs",
    llama_cpp: "node-llama-cpp 3.22.1, CPU, ggml CPU variant " + cpuVariant + " (portable), flashAttention false, F16 KV cache, " + threads + " threads",
    steps, cases: [],
  };
  for (const c of manifest.cases) {
    const model = await llama.loadModel({ modelPath: join(dir, c.file), gpuLayers: 0, useMmap: true });
    const opts = { contextSize: 256, batchSize: 256, threads, flashAttention: false, sequences: 1 };
    const tuned = await model.createContext({
      ...opts, lora: { adapters: c.adapters.map((a) => ({ filePath: join(dir, a.file), scale: a.scale })) },
    });
    const loaded = [...new Set(readFileSync("/proc/self/maps", "utf8").split("\n")
      .filter((l) => l.includes("libggml-cpu-")).map((l) => l.split("/").pop()))];
    if (loaded.length !== 1 || loaded[0] !== cpuVariant)
      throw new Error(`llama.cpp loaded ${loaded.join(", ") || "no ggml CPU backend"}, not ${cpuVariant}: run lora-golden.sh`);
    const t = await run(model, tuned, c.prompt, c.answer);
    await tuned.dispose();
    const plain = await model.createContext(opts);
    const b = await run(model, plain, c.prompt, c.answer);
    await plain.dispose();
    await model.dispose();
    doc.cases.push({
      name: c.name, sha256: c.sha256, adapters: c.adapters.map((a) => ({ sha256: a.sha256, scale: a.scale })),
      prompt: t.prompt, greedy: t.greedy, top_logits: t.top, answer: c.answer, answer_logprob: t.logp,
      base_greedy: b.greedy, base_answer_logprob: b.logp,
    });
    console.error(`${c.name}: log p(answer) ${t.logp.toFixed(4)} with the adapters, ${b.logp.toFixed(4)} without`);
  }
  writeFileSync(out, JSON.stringify(doc) + "\n");
  console.error(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
