// Developer-only: regenerates model/tokenizer/testdata/{corpus.txt.gz,golden-*.json.gz}.
// llama.cpp (npm node-llama-cpp, vocab-only load) tokenizes a multilingual
// corpus with the real Qwen2.5 and Llama 3 vocabularies under each supported
// pre-tokenizer; Go tests compare against these answers without node.
// Run from scripts/reference: node tokenizer-golden.mjs
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { getLlama } from "node-llama-cpp";
import { qwen2, llama3 } from "./vocab-common.mjs";
import { corpusLines } from "./tokenizer-corpus.mjs";

const outDir = new URL("../../model/tokenizer/testdata/", import.meta.url);

// --- a minimal GGUF v3 writer (metadata only, no tensors) ---
function ggufBytes(kvs) {
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const i32 = (v) => { const b = Buffer.alloc(4); b.writeInt32LE(v); parts.push(b); };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(b); };
  const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
  parts.push(Buffer.from("GGUF")); u32(3); u64(0); u64(kvs.length);
  for (const [key, type, val] of kvs) {
    str(key);
    switch (type) {
      case "string": u32(8); str(val); break;
      case "u32": u32(4); u32(val); break;
      case "f32": { u32(6); const b = Buffer.alloc(4); b.writeFloatLE(val); parts.push(b); break; }
      case "bool": u32(7); parts.push(Buffer.from([val ? 1 : 0])); break;
      case "strings": u32(9); u32(8); u64(val.length); val.forEach(str); break;
      case "i32s": u32(9); u32(5); u64(val.length); val.forEach(i32); break;
      default: throw new Error(type);
    }
  }
  let buf = Buffer.concat(parts);
  const pad = (32 - (buf.length % 32)) % 32;
  return Buffer.concat([buf, Buffer.alloc(pad)]);
}

function vocabGGUF(v, pre, arch) {
  const kvs = [
    ["general.architecture", "string", arch],
    [`${arch}.context_length`, "u32", 4096],
    [`${arch}.embedding_length`, "u32", 64],
    [`${arch}.block_count`, "u32", 1],
    [`${arch}.feed_forward_length`, "u32", 128],
    [`${arch}.attention.head_count`, "u32", 4],
    [`${arch}.attention.head_count_kv`, "u32", 4],
    [`${arch}.attention.layer_norm_rms_epsilon`, "f32", 1e-6],
    ["tokenizer.ggml.model", "string", v.model],
    ["tokenizer.ggml.pre", "string", pre],
    ["tokenizer.ggml.tokens", "strings", v.tokens],
    ["tokenizer.ggml.token_type", "i32s", v.types],
    ["tokenizer.ggml.merges", "strings", v.merges],
    ["tokenizer.ggml.add_bos_token", "bool", v.addBOS],
  ];
  if (v.bos >= 0) kvs.push(["tokenizer.ggml.bos_token_id", "u32", v.bos]);
  if (v.eos >= 0) kvs.push(["tokenizer.ggml.eos_token_id", "u32", v.eos]);
  if (v.eot >= 0) kvs.push(["tokenizer.ggml.eot_token_id", "u32", v.eot]);
  if (v.pad >= 0) kvs.push(["tokenizer.ggml.padding_token_id", "u32", v.pad]);
  return ggufBytes(kvs);
}

const lines = corpusLines();
// Multi-line texts: consecutive corpus lines joined with assorted line breaks.
const seps = ["\n", "\n\n", "\r\n", " \n", "\t\n", "\n \n", "\n\n\n"];
const blocks = [];
for (let i = 0, k = 0; i < lines.length; i += 17, k++) blocks.push(lines.slice(i, i + 17).join(seps[k % seps.length]));
for (const sep of [...seps, "\r", "\r\r\n", "\t\t", " \u3000\n"]) blocks.push(sep, "a" + sep, sep + "a", "a" + sep + "b", "x " + sep + " y");
blocks.push(lines.join("\n"));
writeFileSync(new URL("corpus.txt.gz", outDir), gzipSync(lines.join("\n") + "\n", { level: 9 }));

const llama = await getLlama({ gpu: false, logLevel: "error" });
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
  const doc = { pre, vocab: v === qv ? "qwen2" : "llama3", llama_cpp: "node-llama-cpp " + llama.llamaCppRelease.release, eog, cases };
  writeFileSync(new URL(`golden-${name}.json.gz`, outDir), gzipSync(JSON.stringify(doc), { level: 9 }));
  console.log(name, cases.length, "cases", eog.length, "eog");
  await model.dispose();
}
rmSync(dir, { recursive: true, force: true });
