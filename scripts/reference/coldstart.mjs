// Developer-only: time to the first answer token of a fresh process, for
// chatloop (`chatloop chat --once`) and llama.cpp (node-llama-cpp, run by
// this same script in its "llama" mode), on the same GGUF file, the same
// one-message chat prompt, 2 threads, greedy. Issue 21 asks that a cold
// `chat --once` reach its first token no later than llama.cpp's does.
//
//   node scripts/reference/coldstart.mjs CHATLOOP_BINARY FILE.gguf [runs=5]
//
// Each run spawns a new process and measures, from the spawn, the time
// until the first byte of answer text reaches its standard output. The two
// programs alternate run by run, so that a busy machine slows both alike.
// chatloop runs twice per round: with its pack cache (the packed weights
// mapped from FILE.chatloop-packed, made by the first run) and with
// --no-repack (the file's own layout, no cache). The file stays in the
// page cache between runs for both (nothing here can drop it), so "cold"
// means a new process, not a cold disk. llama.cpp's figure includes
// node's own start (about 40 ms, printed as node_start_ms).
//
// Prints one JSON object: the medians in ms and the ratios
// chatloop / llama.cpp (below 1: chatloop is first).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const question = "Name three colours.";

if (process.argv[2] === "--llama") {
  // llama mode: load, render the chat through the model's own template,
  // print the first token and exit.
  const file = process.argv[3];
  const { getLlama, LlamaChatSession } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, logLevel: "error" });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, useMmap: true });
  const context = await model.createContext({ contextSize: 512, threads: 2, sequences: 1 });
  const session = new LlamaChatSession({ contextSequence: context.getSequence() });
  const ac = new AbortController();
  try {
    await session.prompt(question, {
      temperature: 0, maxTokens: 8, signal: ac.signal, stopOnAbortSignal: true,
      onTextChunk(text) { if (text) { process.stdout.write(text); ac.abort(); } },
    });
  } catch { /* aborted after the first token */ }
  process.exit(0);
}

const [bin, file, runsArg = "5"] = process.argv.slice(2);
if (!bin || !file) {
  console.error("usage: node scripts/reference/coldstart.mjs CHATLOOP_BINARY FILE.gguf [runs]");
  process.exit(2);
}
const runs = Number(runsArg);
const dir = mkdtempSync(join(tmpdir(), "coldstart-"));
writeFileSync(join(dir, "chatloop.toml"), "[model]\nthreads = 2\nmax_tokens = 8\n[model.sampling]\ntemperature = 0.0\n");

// firstByte spawns cmd and resolves with the ms from the spawn to the
// first byte on its stdout, then kills it.
function firstByte(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
    let err = "";
    let done = false;
    p.stderr.on("data", (d) => { err += d; });
    p.stdout.on("data", () => {
      if (!done) { done = true; resolve(performance.now() - t0); p.kill("SIGKILL"); }
    });
    p.on("exit", (code) => { if (!done) reject(new Error(`${cmd} exited ${code} before any output: ${err.slice(-2000)}`)); });
  });
}

// toExit spawns cmd and waits for it to exit on its own.
function toExit(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...opts });
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`))));
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const self = fileURLToPath(import.meta.url);
const chatloop = (extra) => firstByte(bin, ["chat", "--backend", "local", "--model", file, "--db", join(dir, "fb.db"), "--once", question, ...extra], { cwd: dir });
const llamaRun = () => firstByte(process.execPath, [self, "--llama", file]);
const nodeStart = () => firstByte(process.execPath, ["-e", "process.stdout.write('x')"]);

// One untimed run of each: the pack cache is made (chatloop runs to its
// end, since the cache is written in the background after the load and a
// process killed at its first token never finishes it), the file is read
// into the page cache, node's modules are compiled.
await toExit(bin, ["chat", "--backend", "local", "--model", file, "--db", join(dir, "fb.db"), "--once", question], { cwd: dir });
if (!existsSync(file + ".chatloop-packed")) {
  console.error(`coldstart: no pack cache beside ${file} after a whole run (a folder that is not writable puts it under the user cache folder; this CPU may pack nothing)`);
}
await llamaRun();

const t = { cached: [], norepack: [], llama: [], node: [] };
for (let r = 0; r < runs; r++) {
  t.cached.push(await chatloop([]));
  t.llama.push(await llamaRun());
  t.norepack.push(await chatloop(["--no-repack"]));
  t.node.push(await nodeStart());
}
rmSync(dir, { recursive: true, force: true });
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(median(v))]));
console.log(JSON.stringify({
  runs,
  chatloop_pack_cache_ms: m.cached,
  chatloop_no_repack_ms: m.norepack,
  llamacpp_ms: m.llama,
  node_start_ms: m.node,
  ratio_pack_cache: Math.round(100 * m.cached / m.llama) / 100,
  ratio_no_repack: Math.round(100 * m.norepack / m.llama) / 100,
}));
