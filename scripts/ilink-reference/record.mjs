// Records the requests Tencent's reference iLink client sends, and how it
// reads the server's answers, as a golden fixture for chatloop's iLink
// adapter (adapters/wechat/ilink/testdata/reference_requests.json). The
// adapter's TestRequestsMatchReference replays the same calls through
// chatloop's client and compares them with it, without node.
//
// Developer script, not run in CI. Regenerate with:
//
//   cd /tmp && npm pack @tencent-weixin/openclaw-weixin && tar xzf tencent-weixin-openclaw-weixin-*.tgz
//   node scripts/ilink-reference/record.mjs /tmp/package > adapters/wechat/ilink/testdata/reference_requests.json
//
// The reference's compiled modules (dist/src) are imported as they are.
// The two OpenClaw host modules they need (an account-id normaliser and a
// temp-dir/file-lock helper) are stood in for by a tiny shim written under
// the unpacked package's node_modules; nothing of the reference is copied.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const pkg = path.resolve(process.argv[2] ?? "/tmp/package");
const version = JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).version;

// The host shim: only what dist/src/api, auth and messaging import.
const shim = path.join(pkg, "node_modules", "openclaw");
fs.mkdirSync(path.join(shim, "plugin-sdk"), { recursive: true });
fs.writeFileSync(path.join(shim, "package.json"), JSON.stringify({
  name: "openclaw", type: "module",
  exports: { "./plugin-sdk/account-id": "./plugin-sdk/account-id.js", "./plugin-sdk/infra-runtime": "./plugin-sdk/infra-runtime.js" },
}));
fs.writeFileSync(path.join(shim, "plugin-sdk", "account-id.js"),
  "export function normalizeAccountId(id) { return String(id ?? '').trim().toLowerCase().replace(/[^a-z0-9_-]+/g, '-'); }\n");
fs.writeFileSync(path.join(shim, "plugin-sdk", "infra-runtime.js"),
  "import os from 'node:os';\nexport function resolvePreferredOpenClawTmpDir() { return os.tmpdir(); }\nexport async function withFileLock(_p, _o, fn) { return fn(); }\n");

// Keep the reference's state and logs out of the home directory.
const state = fs.mkdtempSync(path.join(os.tmpdir(), "ilink-ref-"));
process.env.OPENCLAW_STATE_DIR = state;

const imp = (p) => import(pathToFileURL(path.join(pkg, "dist", "src", p)).href);
const api = await imp("api/api.js");
const send = await imp("messaging/send.js");
const login = await imp("auth/login-qr.js");

// Canned answers, as the server writes them: uint64 ids as bare numbers.
const answers = {
  "/ilink/bot/getupdates": '{"ret":0,"msgs":[{"seq":7,"message_id":18446744073709551615,"from_user_id":"u1@im.wechat","to_user_id":"b@im.bot","create_time_ms":1767225600000,"message_type":1,"message_state":2,"item_list":[{"type":1,"msg_id":9007199254740993,"text_item":{"text":"hi"},"ref_msg":{"svr_id":12345678901234567890,"title":"t"}}],"context_token":"CTX"}],"get_updates_buf":"BUF2","longpolling_timeout_ms":25000}',
  "/ilink/bot/sendmessage": '{"ret":0,"message_id":18446744073709551557}',
  "/ilink/bot/getconfig": '{"ret":0,"typing_ticket":"VElDS0VU"}',
  "/ilink/bot/sendtyping": '{"ret":0}',
  "/ilink/bot/msg/notifystart": '{"ret":0}',
  "/ilink/bot/msg/notifystop": '{"ret":0}',
  "/ilink/bot/get_bot_qrcode": '{"qrcode":"QR1","qrcode_img_content":"https://liteapp.weixin.qq.com/q/QR1?bot_type=3"}',
  "/ilink/bot/get_qrcode_status": '{"status":"confirmed","bot_token":"NEWTOKEN","ilink_bot_id":"b0f5860fdecb@im.bot","baseurl":"https://ilinkai.weixin.qq.com","ilink_user_id":"owner@im.wechat"}',
};

// protocolHeaders drops what node's fetch adds to every request (host,
// connection, accept*, user-agent, sec-fetch-mode, content-length): the
// rest is what the reference sends on purpose.
function protocolHeaders(h) {
  const transport = new Set(["host", "connection", "accept", "accept-language", "accept-encoding", "sec-fetch-mode", "user-agent", "content-length"]);
  return Object.fromEntries(Object.entries(h).filter(([k]) => !transport.has(k)));
}

const requests = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const u = new URL(req.url, "http://x");
    requests.push({ method: req.method, path: u.pathname, query: u.search, headers: protocolHeaders(req.headers), body: body ? JSON.parse(body) : null, answer: answers[u.pathname] });
    res.setHeader("Content-Type", "application/json");
    res.end(answers[u.pathname] ?? '{"ret":-1}');
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const baseUrl = `http://127.0.0.1:${server.address().port}`;
const token = "TOKEN";

const calls = [];
async function record(name, input, fn) {
  const before = requests.length;
  const result = await fn();
  calls.push({ call: name, input, request: requests[before], result });
}

await record("getupdates", { buf: "BUF1" }, async () => {
  const r = await api.getUpdates({ baseUrl, token, get_updates_buf: "BUF1", timeoutMs: 5000 });
  return {
    message_id: r.msgs[0].message_id,
    item_msg_id: r.msgs[0].item_list[0].msg_id,
    ref_svr_id: r.msgs[0].item_list[0].ref_msg.svr_id,
    get_updates_buf: r.get_updates_buf,
    longpolling_timeout_ms: r.longpolling_timeout_ms,
  };
});
await record("sendmessage", { to: "u1@im.wechat", context_token: "CTX", text: "hello" }, async () => {
  const r = await send.sendMessageWeixin({ to: "u1@im.wechat", text: "hello", opts: { baseUrl, token, contextToken: "CTX" } });
  return { server_message_id: r.serverMessageId };
});
await record("getconfig", { user: "u1@im.wechat", context_token: "CTX" }, async () => {
  const r = await api.getConfig({ baseUrl, token, ilinkUserId: "u1@im.wechat", contextToken: "CTX" });
  return { typing_ticket: r.typing_ticket };
});
await record("sendtyping", { user: "u1@im.wechat", ticket: "VElDS0VU", status: 1 }, async () => {
  await api.sendTyping({ baseUrl, token, body: { ilink_user_id: "u1@im.wechat", typing_ticket: "VElDS0VU", status: 1 } });
  return {};
});
await record("notifystart", {}, async () => (await api.notifyStart({ baseUrl, token }), {}));
await record("notifystop", {}, async () => (await api.notifyStop({ baseUrl, token }), {}));

// The QR login goes to a fixed host in the reference: its fetch calls are
// pointed at the local server instead.
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => realFetch(String(url).replace("https://ilinkai.weixin.qq.com", baseUrl), init);
// The login prints its QR code to stdout: keep stdout for the fixture.
const out = (s) => fs.writeSync(1, s);
process.stdout.write = (chunk) => process.stderr.write(chunk);
let session;
await record("get_bot_qrcode", {}, async () => {
  const r = await login.startWeixinLoginWithQr({ apiBaseUrl: baseUrl, botType: "3" });
  session = r.sessionKey;
  return { qrcode_img_content: r.qrcodeUrl };
});
await record("get_qrcode_status", { qrcode: "QR1" }, async () => {
  const r = await login.waitForWeixinLogin({ sessionKey: session, apiBaseUrl: baseUrl, timeoutMs: 5000 });
  return { connected: r.connected, bot_token: r.botToken, ilink_bot_id: r.accountId, baseurl: r.baseUrl, ilink_user_id: r.userId };
});

server.close();
fs.rmSync(state, { recursive: true, force: true });
out(JSON.stringify({ reference: `@tencent-weixin/openclaw-weixin ${version}`, calls }, null, 2) + "\n");
