// Developer-only: regenerates feedback/testdata/export-tools-jinja.json, the
// TRL rows with tool calls of feedback/testdata/export-tools-*.jsonl (go
// test ./feedback -run TestExportToolsGolden -update writes them) rendered,
// exactly as exported, by the real chat templates of Qwen2.5-Instruct,
// Qwen3 and Llama 3.1 Instruct with @huggingface/jinja, the way
// transformers' apply_chat_template renders a TRL dataset's row (tools
// from its "tools" column). feedback's TestExportToolsRenderLikeJinja
// compares them with chatloop's rendering of the stored answers. CI never
// runs this.
//
// Run from scripts/reference: npm install && node export-tools-jinja.mjs
//
// The template texts are the ones model/chat/testdata/tools-golden.json
// holds (tools-chat-golden.mjs says where they come from).
import { readFileSync, writeFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const golden = JSON.parse(readFileSync(new URL("../../model/chat/testdata/tools-golden.json", import.meta.url), "utf8"));
const bos = { "qwen2.5": "", "qwen3": "", "llama3.1": "<|begin_of_text|>" };
const rows = [];
for (const format of ["preference", "kto", "sft"]) {
  const lines = readFileSync(new URL(`../../feedback/testdata/export-tools-${format}.jsonl`, import.meta.url), "utf8").split("\n").filter(Boolean);
  lines.forEach((line, i) => {
    const row = JSON.parse(line);
    if (!row.tools) return;
    const convs = {
      preference: { chosen: [...(row.prompt ?? []), ...(row.chosen ?? [])], rejected: [...(row.prompt ?? []), ...(row.rejected ?? [])] },
      kto: { completion: [...(row.prompt ?? []), ...(row.completion ?? [])] },
      sft: { messages: row.messages },
    }[format];
    for (const [side, messages] of Object.entries(convs)) {
      const rendered = {};
      for (const name of Object.keys(bos)) {
        rendered[name] = new Template(golden.templates[name]).render({
          messages, tools: row.tools, add_generation_prompt: false, bos_token: bos[name], eos_token: "",
        });
      }
      rows.push({ format, line: i + 1, side, last: messages[messages.length - 1].content, rendered });
    }
  });
}
writeFileSync(new URL("../../feedback/testdata/export-tools-jinja.json", import.meta.url), JSON.stringify({ rows }, null, 1) + "\n");
console.log(rows.length, "conversations");
