// Developer-only: regenerates model/tokenizer/testdata/{corpus.txt.gz,golden-*.json.gz}.
// llama.cpp (npm node-llama-cpp, vocab-only load) tokenizes a multilingual
// corpus with the real Qwen2.5 and Llama 3 vocabularies under each supported
// pre-tokenizer; Go tests compare against these answers without node.
// Run from scripts/reference: node tokenizer-golden.mjs
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { getLlama } from "node-llama-cpp";
import { qwen2, llama3 } from "./vocab-common.mjs";
import { corpusLines } from "./tokenizer-corpus.mjs";
import { vocabGGUF } from "./tokenizer-gguf.mjs";

const outDir = new URL("../../model/tokenizer/testdata/", import.meta.url);

const lines = corpusLines();
// Multi-line texts: consecutive corpus lines joined with assorted line breaks.
const seps = ["\n", "\n\n", "\r\n", " \n", "\t\n", "\n \n", "\n\n\n"];
const blocks = [];
for (let i = 0, k = 0; i < lines.length; i += 17, k++) blocks.push(lines.slice(i, i + 17).join(seps[k % seps.length]));
for (const sep of [...seps, "\r", "\r\r\n", "\t\t", " \u3000\n"]) blocks.push(sep, "a" + sep, sep + "a", "a" + sep + "b", "x " + sep + " y");
blocks.push(lines.join("\n"));
writeFileSync(new URL("corpus.txt.gz", outDir), gzipSync(lines.join("\n") + "\n", { level: 9 }));

const llama = await getLlama({ gpu: false, logLevel: "error" });
const nlcVersion = JSON.parse(readFileSync(new URL("node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version;
const reference = `node-llama-cpp ${nlcVersion}, llama.cpp ${llama.llamaCppRelease.repo}@${llama.llamaCppRelease.release}`;
const dir = mkdtempSync(join(tmpdir(), "chatloop-golden-"));
const qv = qwen2(), lv = llama3();
const configs = [
  ["qwen2", qv, "qwen2", "qwen2"],
  ["smollm", qv, "smollm", "qwen2"],
  ["llama-bpe", lv, "llama-bpe", "llama"],
  ["gpt2", lv, "gpt-2", "llama"],
];
for (const [name, v, pre, arch] of configs) {
  const path = join(dir, `${name}.gguf`);
  writeFileSync(path, vocabGGUF(v, pre, arch));
  const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
  const cases = [];
  for (const text of [...lines, ...blocks]) {
    for (const special of [false, true]) {
      const ids = Array.from(model.tokenize(text, special));
      const c = { text, special, ids };
      if (special) c.detok = model.detokenize(ids, true);
      cases.push(c);
    }
  }
  const eog = [];
  for (let id = 0; id < v.tokens.length; id++) if (model.isEogToken(id)) eog.push(id);
  const doc = { pre, vocab: v === qv ? "qwen2" : "llama3", llama_cpp: reference, eog, cases };
  writeFileSync(new URL(`golden-${name}.json.gz`, outDir), gzipSync(JSON.stringify(doc), { level: 9 }));
  console.log(name, cases.length, "cases", eog.length, "eog");
  await model.dispose();
}
rmSync(dir, { recursive: true, force: true });
