// Developer-only: a minimal GGUF v3 writer (metadata only, no tensors) for
// vocabulary-only files llama.cpp can load with vocab_only.
// --- a minimal GGUF v3 writer (metadata only, no tensors) ---
export function ggufBytes(kvs) {
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

export function vocabGGUF(v, pre, arch) {
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

