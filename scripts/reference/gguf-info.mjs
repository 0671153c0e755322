// Developer-only: cross-checks model/gguf against independent GGUF readers.
//
//   node gguf-info.mjs              regenerate model/gguf/testdata/reference-golden.json
//   node gguf-info.mjs FILE.gguf    print what node-llama-cpp reads in FILE
//
// Regenerating:
// 1. `go test ./model/gguf -run ^TestWriteReference$ -gguf-reference DIR`
//    writes the reference files with chatloop's GGUF writer: "types" (a
//    metadata value of every kind, a tensor of every type) and one tiny
//    one-layer llama model per tensor type, with Llama 3's real tokenizer.
// 2. Each file is read by node-llama-cpp's own GGUF parser
//    (readGgufFileInfo: version, metadata, tensor infos); the bytes of every
//    tensor are hashed at the offset it reports, with sizes from ggml's
//    block table restated below.
// 3. The llama files are loaded by llama.cpp itself (CPU, mmap), which
//    checks every tensor's name, shape, type, offset and size; its model
//    size, context length, embedding size, special tokens and the tokens
//    of "Hello, world!" are recorded.
// model/gguf's TestReferenceGolden regenerates the same files (byte for
// byte: the SHA-256 is recorded) and compares its reader with all of this.
//
// Run from scripts/reference.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, rmSync, openSync, readSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { getLlama, readGgufFileInfo } from "node-llama-cpp";

// ggml's [block size, bytes per block] of the types chatloop writes.
const blocks = {
  0: [1, 4], 1: [1, 2], 30: [1, 2], // F32, F16, BF16
  2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], // Q4_0 Q4_1 Q5_0 Q5_1 Q8_0
  12: [256, 144], 13: [256, 176], 14: [256, 210], // Q4_K Q5_K Q6_K
};

function sha256(buf) {
  return createHash("sha256").update(buf).digest("hex");
}

function fileSha256(path) {
  return sha256(readFileSync(path));
}

function jsonValue(v) {
  return typeof v === "bigint" ? v.toString() : v;
}

// Arrays of more than 16 elements are summarised: length, first and last
// four, and the SHA-256 of the elements as text, each followed by NUL.
function summarise(v) {
  if (!Array.isArray(v)) return jsonValue(v);
  if (v.length <= 16) return v.map(jsonValue);
  const h = createHash("sha256");
  for (const e of v) h.update(String(e)).update("\0");
  return { len: v.length, head: v.slice(0, 4).map(jsonValue), tail: v.slice(-4).map(jsonValue), sha256: h.digest("hex") };
}

function flatten(obj, prefix, out) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = summarise(v);
  }
  return out;
}

function tensorBytes(t) {
  const b = blocks[t.ggmlType];
  if (!b) return null;
  let n = 1n;
  for (const d of t.dimensions) n *= BigInt(d);
  return Number(n / BigInt(b[0]) * BigInt(b[1]));
}

async function describe(path) {
  const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: true });
  const fd = openSync(path, "r");
  const tensors = [];
  try {
    for (const t of info.tensorInfo) {
      const bytes = tensorBytes(t);
      let sum = null;
      if (bytes != null) {
        const buf = Buffer.alloc(bytes);
        const got = readSync(fd, buf, 0, bytes, Number(t.fileOffset));
        sum = got === bytes ? sha256(buf) : `short read: ${got} of ${bytes}`;
      }
      tensors.push({
        name: t.name, dims: t.dimensions.map(Number), ggmlType: t.ggmlType,
        fileOffset: Number(t.fileOffset), bytes, sha256: sum,
      });
    }
  } finally {
    closeSync(fd);
  }
  return {
    sha256: fileSha256(path), version: info.version, tensorCount: Number(info.tensorCount),
    metadata: flatten(info.metadata, "", {}), tensors,
  };
}

async function loadWithLlama(llama, path) {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0, useMmap: true });
  try {
    return {
      size: model.size, trainContextSize: model.trainContextSize, embeddingVectorSize: model.embeddingVectorSize,
      bos: model.tokens.bos, eos: model.tokens.eos, tokens: [...model.tokenize("Hello, world!")],
    };
  } finally {
    await model.dispose();
  }
}

if (process.argv[2]) {
  const d = await describe(process.argv[2]);
  console.log(JSON.stringify(d, null, 2));
  process.exit(0);
}

const repo = new URL("../../", import.meta.url).pathname;
const out = join(repo, "model/gguf/testdata/reference-golden.json");
const dir = mkdtempSync(join(tmpdir(), "chatloop-gguf-"));
try {
  execFileSync("go", ["test", "./model/gguf", "-run", "^TestWriteReference$", "-count=1", "-gguf-reference", dir],
    { cwd: repo, stdio: "inherit" });
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const llama = await getLlama({ gpu: false, logLevel: "error" });
  const results = [];
  for (const m of manifest) {
    const path = join(dir, m.File);
    const entry = { name: m.Name, ...(await describe(path)) };
    if (m.Load) entry.llama = await loadWithLlama(llama, path);
    console.log(`${m.Name}: ${entry.tensorCount} tensors, ${Object.keys(entry.metadata).length} keys` +
      (entry.llama ? `, llama.cpp loaded ${entry.llama.size} bytes of tensors` : ""));
    results.push(entry);
  }
  writeFileSync(out, JSON.stringify(results, null, 1) + "\n");
  console.log(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
