package main

import "strings"

// defaultConfigText is what "chatloop init" writes: every key with its
// default and what it does, the command's own sections and then every
// platform's from the platform table. A test checks that it parses to
// exactly defaultConfig() and names every key.
func defaultConfigText() string {
	var b strings.Builder
	b.WriteString(coreConfigText)
	for _, p := range platforms {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(p.TOML(), "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// coreConfigText documents the sections of Config's own fields.
const coreConfigText = `# chatloop configuration. Every key is shown with its default.
# Environment variables override keys: CHATLOOP_<SECTION>_<KEY>, for example
# CHATLOOP_MODEL_PATH=/models/qwen.gguf or CHATLOOP_BOT_WORKERS=2.
# Secrets (bot tokens, API keys) are never written here: they come from the
# environment or from files named by *_file keys.

[bot]
# The system prompt of every chat (admins can change it per chat: /persona).
system_prompt = "You are a helpful assistant in a group chat. Answer concisely, in the language of the question."
# In groups the bot answers @mentions, replies to its own answers, and
# messages that start with this prefix. Direct chats are always answered.
prefix = "/ask "
# One session per group instead of one per (group, user).
shared_group_session = false
# Token budget of a session's history, system prompt included; the oldest
# turns are dropped first.
history_tokens = 2048
# Idle sessions are forgotten after this long.
session_idle = "30m0s"
# Longer messages are refused.
max_input_chars = 4000
# Answers generated at once (the local engine decodes them together, up
# to [model] parallel), and messages allowed to wait for a worker (beyond
# that the user is told to try again shortly).
workers = 4
queue_size = 16
# Each user's token bucket: messages per minute, and the burst allowed.
# 0 turns rate limiting off.
rate_per_minute = 6.0
rate_burst = 3
# People allowed to use admin commands (/persona), as "platform:id",
# e.g. ["discord:123456789012345678", "wechat:Alice"].
admins = []
# Chance that an answer comes as two alternatives, A and B, for the asker
# to choose between (a direct preference pair).
ab_probability = 0.0
# Versions an A/B offer compares instead of two samples of one: LoRA
# adapter files served with the local model, "" for the base alone, e.g.
# ["", "tuned.gguf"]. Two are drawn per offer and shown in random order;
# the choice counts for the versions in "chatloop feedback stats". See
# docs/versions.md.
ab_adapters = []
# An unquoted thumbs message votes on the sender's last answer this recent.
vote_window = "10m0s"
# Appended once per group chat to the first answer there (remembered in the
# feedback database); "" turns it off. See docs/chat.md.
group_notice = "Reactions to my answers are collected to improve me; send /optout to stop."

# Refusal rules, checked before the model runs. Add as many as you need:
# [[bot.refusals]]
# category = "weapons"
# keywords = ["build a bomb"]          # case-insensitive substrings
# patterns = ['(?i)\bnerve agent\b']   # Go regular expressions
# reply = "Sorry, I can't help with that."   # optional; default is polite
# reply_zh = "抱歉，这个我帮不了。"             # optional Chinese wording

[model]
# "local" runs a GGUF model in process; "openai" talks to an
# OpenAI-compatible server (Ollama, llama.cpp server, vLLM, ...);
# "demo" needs no model and echoes, clearly labelled.
backend = "local"
# The GGUF file. Empty: the catalogue model below, pulled on first use.
path = ""
# Catalogue name of the default model ("chatloop model pull --help").
name = "qwen2.5-0.5b-instruct"
# Where pulled models are kept. Empty: $XDG_CACHE_HOME/chatloop/models,
# else ~/.cache/chatloop/models.
cache_dir = ""
# CPU threads for the local engine; 0 means one per core.
threads = 0
# Context length in tokens; 0 means the model's own.
context = 0
# Answers the local engine generates together, in one pass over the
# weights per token for all of them; more wait their turn.
parallel = 4
# Key/value memory (MiB) kept from finished answers, so that the next
# turn of a conversation (or a shared system prompt) is not processed
# again; least recently used dropped first. 0 keeps none.
prefix_cache_mb = 512
# Rewrite the weight matrices at load in the packed layouts of this CPU's
# kernels (faster, the same results; the file's copy leaves memory).
# false keeps the file's layout (llama.cpp's --no-repack).
repack = true
# Keep the repacked weights in a file beside the model
# ("<model>.chatloop-packed"; under the user's cache folder when the
# model's folder is not writable), so that later loads map them instead of
# repacking. Keyed by the model file and this CPU; rewritten when stale.
pack_cache = true
# LoRA adapters (llama.cpp's GGUF adapter format, as "chatloop tune" or
# llama.cpp's convert_lora_to_gguf.py writes them) served with the local
# model, their scales (a missing one is 1) and whether to add them into
# the weights at load rather than beside them at every token. See
# docs/lora.md.
adapters = []
adapter_scales = []
merge_adapters = false
# Longest answer, in tokens.
max_tokens = 512
# Chat template override ("chatml", "qwen2.5", "qwen3", "llama3" or "llama3.1"); empty: from the GGUF file.
template = ""
# Extra stop strings.
stop = []
# OpenAI-compatible backend: base URL, the environment variable holding
# the API key, the model name to ask for, and the request timeout.
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "OPENAI_API_KEY"
remote_model = ""
timeout = "2m0s"

[model.sampling]
# 0 temperature means greedy decoding.
temperature = 0.7
top_k = 40
top_p = 0.9
min_p = 0.05
repeat_penalty = 1.1
# 0: a fresh random seed per answer (recorded with the answer).
seed = 0

[feedback]
# The bbolt database of answers, votes and comparisons.
db = "chatloop.db"
# The local socket a running "chatloop run" answers feedback commands on.
# Empty: the database path with ".sock" appended.
socket = ""
# One person's votes and A/B choices a minute (a burst of as many); more
# are not recorded. 0: no cap.
max_votes_per_minute = 30

[reward]
# A reward head trained by "chatloop reward train"; empty: none.
path = ""
# Sample this many answers and send the one the reward model scores best.
best_of = 1

[web]
# The dashboard, /metrics, /api/stats and /healthz, served while "chatloop
# run" runs (and by "chatloop dashboard"). Empty: off. An address other
# machines can reach needs a token: CHATLOOP_WEB_TOKEN in the environment,
# or the file named by token_file; without one the dashboard refuses to
# start.
listen = "127.0.0.1:8377"
token_file = ""

[tools]
# Let the model call tools while it answers: web_search, fetch_url,
# current_time and the MCP servers below. See docs/tools.md.
enabled = false
# A SearXNG instance's search endpoint for web_search (its JSON format
# enabled), e.g. "http://localhost:8888/search". Empty: no web_search.
search_url = ""
# Results web_search returns.
search_results = 5
# Let fetch_url read loopback, private and link-local addresses (your
# LAN, cloud metadata). Leave false unless only you can talk to the bot.
allow_private = false
# current_time's time zone (IANA, e.g. "Asia/Shanghai"); empty: this
# machine's.
timezone = ""
# Longest a built-in tool's call may take.
call_timeout = "15s"
# Rounds of tool calls one answer may take; after the last the model
# answers without tools.
max_rounds = 3
# Time one answer may spend on tools; then the calls still running are
# cancelled and the model answers with what it has.
budget = "1m0s"
# The most tokens of one tool result the model is shown (the rest is cut).
max_result_tokens = 1024
# Offer tools in group chats too. false: direct chats only, and the group
# chats listed under chats.
groups = false
# Tools only [bot] admins may have the model call, by name or pattern,
# e.g. ["files_*"].
admin_only = []
# Allow lists, by name or pattern: the tools offered on a platform, e.g.
# platforms = { discord = ["web_search", "fetch_url"] }, and in one chat
# (instead of its platform's list), e.g.
# chats = { "discord:123456789012345678" = ["web_search"] }.
# A platform or chat not listed gets every tool.
platforms = {}
chats = {}

# MCP servers (Model Context Protocol): each one's tools are offered as
# "<name>_<tool>". Add as many as you need:
# [[tools.mcp]]
# name = "files"                     # letters, digits and '-'
# command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"]
# env = ["KEY=value"]                # optional, for command
# # url = "http://127.0.0.1:9000/mcp"  # streamable HTTP instead of command
# admin_only = false                 # offer its tools to admins only
`
