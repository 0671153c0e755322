// Developer-only: llama.cpp's tokenizer speed on the golden corpus, to set
// beside `go test ./model/tokenizer -bench Encode`. Each line is one
// model.tokenize call (N-API call overhead included).
// Run from scripts/reference: node tokenizer-bench.mjs
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama } from "node-llama-cpp";
import { qwen2, llama3 } from "./vocab-common.mjs";
import { corpusLines } from "./tokenizer-corpus.mjs";
import { vocabGGUF } from "./tokenizer-gguf.mjs";

const lines = corpusLines();
const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l), 0);
const llama = await getLlama({ gpu: false, logLevel: "error" });
const dir = mkdtempSync(join(tmpdir(), "chatloop-bench-"));
for (const [name, v, pre, arch] of [["qwen2", qwen2(), "qwen2", "qwen2"], ["llama-bpe", llama3(), "llama-bpe", "llama"]]) {
  const path = join(dir, `${name}.gguf`);
  writeFileSync(path, vocabGGUF(v, pre, arch));
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  for (const l of lines) model.tokenize(l, false); // warm up
  const passes = 20;
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) for (const l of lines) tokens += model.tokenize(l, false).length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${name}: ${(s / passes * 1e9).toFixed(0)} ns/pass, ${(bytes * passes / s / 1e6).toFixed(2)} MB/s, ${(tokens / s).toFixed(0)} tokens/s`);
  await model.dispose();
}
rmSync(dir, { recursive: true, force: true });
