// Checks chatloop serve with the official OpenAI client. Exits non-zero
// on the first failed check. Environment: BASE_URL, API_KEY, MODEL.
import OpenAI from "openai";
import assert from "node:assert/strict";

const { BASE_URL, API_KEY, MODEL } = process.env;
const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0 });
const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Say hello." },
];
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}

await check("models lists the file's id", async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [MODEL]);
});

let greedy;
await check("non-streaming chat", async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 16 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 16);
  greedy = r.choices[0].message.content;
});

await check("streaming chat equals the non-streamed answer, with usage", async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, messages, temperature: 0, max_completion_tokens: 16, stream: true, stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, greedy);
  assert.equal(finish, "length");
  assert.equal(usage?.completion_tokens, 16);
});

await check("n = 2 with a seed: choice i is what seed + i draws, reproducibly", async () => {
  // top_k and min_p (llama.cpp's extensions) off, as in the test below.
  const req = { model: MODEL, messages, temperature: 1.2, top_k: 0, min_p: 0, seed: 7, n: 2, max_tokens: 12 };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  const one = await client.chat.completions.create({ ...req, n: 1, seed: 8 });
  assert.equal(one.choices[0].message.content, a.choices[1].message.content);
  assert.equal(a.usage.completion_tokens, 24);
});

await check("stop strings cut the answer", async () => {
  const full = (await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 40 })).choices[0].message.content;
  const runes = [...full.trim()];
  const stop = runes.slice(runes.length >> 1, (runes.length >> 1) + 2).join("");
  const r = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 40, stop: [stop] });
  assert.equal(r.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, "stop");
});

await check("raw completions", async () => {
  const r = await client.completions.create({ model: MODEL, prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.usage.completion_tokens, 8);
});

await check("cancellation: aborting a stream ends it, and the server goes on", async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: MODEL, messages, temperature: 1, top_k: 0, min_p: 0, max_tokens: 200, stream: true }, { signal: ac.signal });
  let n = 0;
  try {
    for await (const _ of stream) {
      if (++n === 1) ac.abort();
    }
  } catch (err) {
    assert.ok(err.name === "APIUserAbortError" || err.name === "AbortError", `unexpected ${err}`);
  }
  assert.ok(n < 20, `read ${n} chunks after aborting`);
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
  assert.equal(r.choices.length, 1);
});

await check("wrong key: 401 in the OpenAI error shape", async () => {
  const bad = new OpenAI({ baseURL: BASE_URL, apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: MODEL, messages }), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.code, "invalid_api_key");
    assert.ok(err.error?.message);
    return err instanceof OpenAI.AuthenticationError;
  });
});

await check("bad parameter: 400 naming it", async () => {
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages, temperature: 5 }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.param, "temperature");
    return err instanceof OpenAI.BadRequestError;
  });
});

await check("prompt over the context: context_length_exceeded", async () => {
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "word ".repeat(3000) }] }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.code, "context_length_exceeded");
    return true;
  });
});

// Tool calling. A random model does not call tools by itself, so these
// check that the client's tool requests are accepted and its stream
// helper reads the answers; the shapes of tool_calls answers (message and
// delta.tool_calls) are checked in model/server's Go tests, on an engine
// whose decoding is forced into calls.
const tools = [{ type: "function", function: { name: "web_search", description: "Search the web.", parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] } } }];

await check("tools offered: an answer the client reads", async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: "auto", temperature: 0, max_tokens: 16 });
  const c = r.choices[0];
  assert.ok(["stop", "length", "tool_calls"].includes(c.finish_reason), c.finish_reason);
  for (const call of c.message.tool_calls ?? []) assert.equal(call.type, "function");
  assert.ok(!(c.message.content ?? "").includes("<tool_call>"));
});

await check("tools, streamed through the client's stream helper", async () => {
  const stream = client.chat.completions.stream({ model: MODEL, messages, tools, temperature: 0, max_tokens: 16 });
  const final = await stream.finalChatCompletion();
  assert.equal(final.choices.length, 1);
  assert.ok(!(final.choices[0].message.content ?? "").includes("<tool_call>"));
});

await check("a history with a tool call and its result", async () => {
  const history = [
    ...messages,
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "web_search", arguments: JSON.stringify({ query: "hello" }) } }] },
    { role: "tool", tool_call_id: "call_1", content: "[1] Hello, world" },
  ];
  const r = await client.chat.completions.create({ model: MODEL, messages: history, tools, temperature: 0, max_tokens: 4 });
  assert.equal(r.choices.length, 1);
  assert.ok(r.usage.prompt_tokens > 0);
});

await check("tool_choice required: 400 naming it", async () => {
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: "required" }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.param, "tool_choice");
    return err instanceof OpenAI.BadRequestError;
  });
});

console.log(failed ? `${failed} failed` : "all checks passed");
process.exit(failed ? 1 : 0);
