// Developer-only: writes model/internal/vocabdata/{qwen2,llama3}.json.gz, the
// compact embedded vocabularies. Run from scripts/reference: node vocab-gen.mjs
import { writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { qwen2, llama3, NORMAL, UNUSED } from "./vocab-common.mjs";

function compact(v) {
  // Trailing [PADn] UNUSED rows are regenerated on load; merges are stored as
  // pairs of token ids (every half of every merge is itself a token).
  let n = v.tokens.length;
  while (n > 0 && v.types[n - 1] === UNUSED && v.tokens[n - 1] === `[PAD${n - 1}]`) n--;
  const index = new Map(v.tokens.map((t, i) => [t, i]));
  const merges = [];
  for (const m of v.merges) {
    const sp = m.indexOf(" ", 1);
    const a = index.get(m.slice(0, sp)), b = index.get(m.slice(sp + 1));
    if (a === undefined || b === undefined) throw new Error(`merge half not a token: ${m}`);
    merges.push(a, b);
  }
  const special = {};
  v.types.forEach((t, i) => { if (i < n && t !== NORMAL) special[i] = t; });
  return {
    model: v.model, pre: v.pre, n_vocab: v.tokens.length, tokens: v.tokens.slice(0, n), types: special,
    merges, bos: v.bos, eos: v.eos, eot: v.eot, pad: v.pad, add_bos: v.addBOS, chat_template: v.chatTemplate,
  };
}

for (const [name, v] of [["qwen2", qwen2()], ["llama3", llama3()]]) {
  const buf = gzipSync(JSON.stringify(compact(v)), { level: 9 });
  writeFileSync(new URL(`../../model/internal/vocabdata/${name}.json.gz`, import.meta.url), buf);
  console.log(name, v.tokens.length, "tokens", v.merges.length, "merges", buf.length, "bytes");
}
