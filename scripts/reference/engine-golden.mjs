// Developer-only: regenerates model/testdata/engine-golden.json, llama.cpp's
// answers on the tiny test models, which model's Go tests compare against
// without node.
//
// 1. `go test ./model -run TestWriteGoldenModels -golden-models DIR` writes
//    every arch × tensor type test model (the exact files the Go tests
//    write from the same seeds) and DIR/manifest.json.
// 2. For each model and prompt, llama.cpp (node-llama-cpp, CPU build,
//    flash attention off, F16 KV cache as by default) tokenizes the prompt
//    (special tokens parsed, BOS as the metadata says), records the 16 best
//    raw logits after it, and decodes 64 tokens greedily.
//
// Run through engine-golden.sh [name-filter-regexp [out.json]], which makes
// llama.cpp use ggml's portable CPU build (libggml-cpu-x64.so) rather than
// the variant node-llama-cpp would pick for this CPU (zen4, haswell, ...):
// the model/ggml kernels follow the portable build to the bit, while the
// SIMD builds quantize and sum differently, which on these models moved
// quantized logits by up to 0.38 and tipped 9 of 72 greedy continuations.
// This script refuses to run on any other CPU variant.
// Models matching the filter (default: all) are rerun and replaced in the
// fixture, which is rewritten after each model.
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { getLlama } from "node-llama-cpp";

const repo = process.env.CHATLOOP_REPO ?? new URL("../../", import.meta.url).pathname;
const cpuVariant = "libggml-cpu-x64.so";
const out = process.argv[3] ?? join(repo, "model/testdata/engine-golden.json");
const steps = 64;
const threads = 2;
const filter = new RegExp(process.argv[2] ?? ".");

const dir = mkdtempSync(join(tmpdir(), "chatloop-golden-"));
try {
  execFileSync("go", ["test", "./model", "-run", "^TestWriteGoldenModels$", "-count=1", "-golden-models", dir, "-golden-filter", filter.source],
    { cwd: repo, stdio: "inherit" });
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const llama = await getLlama({ gpu: false, logLevel: "error" });
  const doc = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : { models: [] };
  doc.generator = "scripts/reference/engine-golden.mjs";
  doc.llama_cpp = "node-llama-cpp 3.22.1 (llama.cpp release v0.5.0 binaries), CPU, ggml CPU variant " + cpuVariant + " (portable, no SIMD), flashAttention false, F16 KV cache, " + threads + " threads";
  doc.steps = steps;
  const order = manifest.models.map((m) => m.name);
  for (const m of manifest.models) {
    if (!filter.test(m.name)) continue;
    const model = await llama.loadModel({ modelPath: join(dir, m.file), gpuLayers: 0, useMmap: true });
    const context = await model.createContext({
      contextSize: 512, batchSize: 512, threads, flashAttention: false, sequences: 1,
    });
    const loaded = [...new Set(readFileSync("/proc/self/maps", "utf8").split("\n")
      .filter((l) => l.includes("libggml-cpu-")).map((l) => l.split("/").pop()))];
    if (loaded.length !== 1 || loaded[0] !== cpuVariant)
      throw new Error(`llama.cpp loaded ${loaded.join(", ") || "no ggml CPU backend"}, not ${cpuVariant}: run engine-golden.sh`);
    const entry = { name: m.name, sha256: m.sha256, prompts: [] }; // sha256 of the weights (see weightsSHA)
    for (const text of m.prompts) {
      const seq = context.getSequence();
      let tokens = model.tokenize(text, true);
      const addBos = model.fileInfo.metadata?.tokenizer?.ggml?.add_bos_token === true;
      if (addBos && model.tokens.bos != null) tokens = [model.tokens.bos, ...tokens];
      // The first step gives llama.cpp's best raw logits after the prompt;
      // the rest of the greedy continuation runs inside llama.cpp.
      const first = await seq.controlledEvaluate(tokens.map((t, i) => i === tokens.length - 1
        ? [t, { generateNext: { token: true, logits: { filter: { includeTop: 16 } }, options: { temperature: 0 } } }]
        : t));
      const next = first[tokens.length - 1].next;
      const top = [...next.logits.entries()].sort((a, b) => b[1] - a[1]).map(([id, l]) => [id, l]);
      const greedy = [next.token];
      for await (const t of seq.evaluate([next.token], { temperature: 0, yieldEogToken: true })) {
        greedy.push(t);
        if (greedy.length >= steps) break;
      }
      if (greedy.length < steps) throw new Error(`${m.name}: generation ended after ${greedy.length} tokens`);
      entry.prompts.push({ text, tokens, greedy, top_logits: top });
      await seq.dispose();
    }
    doc.models = doc.models.filter((x) => x.name !== m.name && order.includes(x.name));
    doc.models.push(entry);
    doc.models.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    writeFileSync(out, JSON.stringify(doc) + "\n");
    console.error(`${m.name}: done`);
    await context.dispose();
    await model.dispose();
  }
  console.error(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
