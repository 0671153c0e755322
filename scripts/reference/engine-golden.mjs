// Developer-only: regenerates model/testdata/engine-golden.json, llama.cpp's
// answers on the tiny test models, which model's Go tests compare against
// without node.
//
// 1. `go test ./model -run TestWriteGoldenModels -golden-models DIR` writes
//    every arch × tensor type test model (the exact files the Go tests
//    write from the same seeds) and DIR/manifest.json.
// 2. For each model and prompt, llama.cpp (node-llama-cpp, CPU build,
//    flash attention off, F16 KV cache as by default) tokenizes the prompt
//    (special tokens parsed, BOS as the metadata says), then decodes 64
//    tokens greedily one at a time, recording the chosen ids, the gap
//    between the two best raw logits at every step, and the 16 best raw
//    logits after the prompt.
//
// Run from scripts/reference: node engine-golden.mjs [name-filter-regexp]
// Models matching the filter (default: all) are rerun and replaced in the
// fixture, which is rewritten after each model.
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { getLlama } from "node-llama-cpp";

const repo = new URL("../../", import.meta.url).pathname;
const out = join(repo, "model/testdata/engine-golden.json");
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
  doc.llama_cpp = "node-llama-cpp 3.22.1 (llama.cpp release v0.5.0 binaries), CPU, flashAttention false, F16 KV cache, " + threads + " threads";
  doc.steps = steps;
  const order = manifest.models.map((m) => m.name);
  for (const m of manifest.models) {
    if (!filter.test(m.name)) continue;
    const model = await llama.loadModel({ modelPath: join(dir, m.file), gpuLayers: 0, useMmap: true });
    const context = await model.createContext({
      contextSize: 512, batchSize: 512, threads, flashAttention: false, sequences: 1,
    });
    const entry = { name: m.name, sha256: m.sha256, prompts: [] }; // sha256 of the weights (see weightsSHA)
    for (const text of m.prompts) {
      const seq = context.getSequence();
      let tokens = model.tokenize(text, true);
      const addBos = model.fileInfo.metadata?.tokenizer?.ggml?.add_bos_token === true;
      if (addBos && model.tokens.bos != null) tokens = [model.tokens.bos, ...tokens];
      const greedy = [], gaps = [];
      let top = null;
      let input = tokens;
      for (let s = 0; s < steps; s++) {
        const items = input.map((t, i) => i === input.length - 1
          ? [t, { generateNext: { token: true, logits: { filter: { includeTop: s === 0 ? 16 : 2 } }, options: { temperature: 0 } } }]
          : t);
        const res = await seq.controlledEvaluate(items);
        const next = res[input.length - 1].next;
        const logits = [...next.logits.entries()].sort((a, b) => b[1] - a[1]);
        if (s === 0) top = logits.map(([id, l]) => [id, l]);
        gaps.push(logits[0][1] - logits[1][1]);
        greedy.push(next.token);
        input = [next.token];
      }
      entry.prompts.push({ text, tokens, greedy, gaps, top_logits: top });
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
