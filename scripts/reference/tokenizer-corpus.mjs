// Developer-only: the deterministic multilingual corpus (one text per line)
// that tokenizer-golden.mjs tokenizes with llama.cpp.
const base = [
  // English
  "Hello, world! How are you doing today?",
  "The quick brown fox jumps over the lazy dog.",
  "I'm sure they'll say we've done what you'd expect, and it's fine.",
  "DON'T SHOUT: IT'S RUDE, YOU'RE TOLD, WE'VE HEARD, THEY'LL LEARN, I'D AGREE, I'M DONE.",
  "She said \"hello\" and 'goodbye' — then left… (quietly).",
  "Mr. O'Neil's dog's toy isn't here; rock'n'roll ain't dead.",
  "  leading spaces and trailing spaces   ",
  "tabs\tbetween\t\twords\t",
  "multiple     spaces      inside",
  "e-mail: someone@example.com, phone: +1 (555) 010-9999",
  "Visit https://www.example.com/path/to/page?query=1&lang=en#section for details.",
  "http://localhost:8080/api/v1/chat?stream=true",
  "ftp://files.example.org/pub/README.md and git@github.com:org/repo.git",
  "Prices: $19.99, €5,00, £3.50, ¥1000, 100% off!!!",
  "Numbers: 0 1 12 123 1234 12345 123456 1234567 3.14159 -42 1e10 0x1F 007",
  "Dates 2024-01-31, 31/12/1999, 12:34:56.789Z",
  "Version v1.2.3-beta+build.45 released on 2026/11/29.",
  "ALL CAPS SENTENCE WITH NUMBERS 2048 AND SYMBOLS #@!",
  "snake_case_identifier camelCaseIdentifier PascalCase kebab-case",
  "Ellipsis... question?! exclamation!!! interrobang‽",
  // Chinese
  "你好，世界！今天天气怎么样？",
  "我们在微信群里讨论大语言模型的训练数据。",
  "请帮我把这段话翻译成英文：人工智能正在改变世界。",
  "中文标点：，。！？；：“引号”‘单引号’（括号）【方括号】《书名号》",
  "机器学习、深度学习和强化学习是三个相关的领域。",
  "价格是12.5元，数量为3000个，总计37500元。",
  "繁體中文：這是一個測試句子，包含傳統字符。",
  // Japanese
  "こんにちは、世界！お元気ですか？",
  "東京は日本の首都です。カタカナとひらがなと漢字。",
  "ｶﾀｶﾅの半角文字と全角ＡＢＣ１２３。",
  "吾輩は猫である。名前はまだ無い。",
  // Korean
  "안녕하세요, 세계! 오늘 날씨가 좋네요.",
  "한국어 문장과 English mixed 문장입니다.",
  "서울특별시 강남구 테헤란로 123번길",
  // Other scripts
  "Привет, мир! Как дела? Это тест токенизатора.",
  "Ελληνικά: Καλημέρα κόσμε!",
  "مرحبا بالعالم! هذا اختبار.",
  "שלום עולם, זה מבחן.",
  "नमस्ते दुनिया! यह एक परीक्षण है।",
  "สวัสดีชาวโลก นี่คือการทดสอบ",
  "Xin chào thế giới! Đây là bài kiểm tra tiếng Việt.",
  "Ça va? Où est la bibliothèque? Très bien, merci. Naïve café, façade.",
  "Größe, Übermaß, Straße — schön!",
  "¿Dónde está el baño? ¡Muy bien!",
  "Combining: e\u0301 a\u0300 o\u0308 n\u0303 (decomposed) vs é à ö ñ (composed)",
  // Emoji
  "Emoji: 😀😃😄 👍👎 🔄 ❤️ 🇨🇳🇺🇸🇯🇵",
  "Family ZWJ: 👨‍👩‍👧‍👦 and skin tones 👋🏻👋🏿, flags 🏳️‍🌈",
  "Mixed 中文😀English한국어日本語🎉123",
  "Keycaps 1️⃣ 2️⃣ #️⃣ and symbols ✓ ✗ ★ ☆ ♠ ♥ → ← ↑ ↓ ∞ ≠ ≤ ≥",
  "Math: ∑_{i=1}^{n} x_i² = ∫ f(x) dx, α+β=γ, √2 ≈ 1.414",
  "Box drawing ┌─┬─┐ │ │ │ └─┴─┘ and blocks ░▒▓█",
  // Code
  "func main() { fmt.Println(\"hello\") }",
  "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
  "def tokenize(text: str) -> list[int]:",
  "    return [vocab[w] for w in text.split()]",
  "\tif err != nil {\n\t\treturn fmt.Errorf(\"open: %w\", err)\n\t}",
  "const x = {a: 1, b: [2, 3], c: 'four'}; // comment",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
  "<div class=\"main\"><p>Hello &amp; welcome</p></div>",
  "{\"role\": \"user\", \"content\": \"hi\"}",
  "#!/bin/bash\necho $HOME && ls -la | grep '\\.go$'",
  "x := []int{1, 2, 3}; y = x[1:] // slice",
  "a<<=2; b>>=3; c&&=d; e||f; g!==h; i===j; k=>l",
  "    indented by four spaces",
  "\t\ttwo tabs then text",
  "line with trailing tab\t",
  // Whitespace oddities
  " ",
  "   ",
  "\t",
  "a \t b",
  "word\u00a0nbsp\u3000ideographic\u2003em space",
  "zero\u200bwidth\u200cjoiner\u200dtest\ufeffbom",
  "soft\u00adhyphen and\u2028line\u2029para",
  "\u0085next line char",
  "trailing spaces before end    ",
  // Special-token text
  "<|im_start|>user\nHello<|im_end|>",
  "<|im_start|>assistant\n你好！<|im_end|>\n<|endoftext|>",
  "text<|endoftext|>more text",
  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>",
  "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|end_of_text|>",
  "<tool_call>{\"name\": \"f\"}</tool_call>",
  "<think>reasoning</think> answer",
  "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
  "not special: <|im_start and im_end|> and < |im_end| >",
  "<|reserved_special_token_5|> reserved",
  "<|im_end|><|im_end|><|im_end|>",
  // Repetition and long runs
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "==================================================",
  "--------------------------------------------------",
  "..................................................",
  "哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈哈",
  "1111111111111111111111111111111111111111",
  "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
];

const words = [
  "the", "model", "token", "Discord", "WeChat", "服务器", "训练", "模型", "数据", "回答", "用户",
  "ありがとう", "データ", "모델", "데이터", "reward", "thumbs", "👍", "👎", "🤖", "GPU", "CPU", "HTTP/2",
  "3.5", "42", "1,000", "2026", "can't", "it's", "We'LL", "they'RE", "x86_64", "UTF-8", "café",
  "naïve", "Привет", "مرحبا", "v0.1", "#tag", "@user", "~/.config", "C:\\Users\\me", "a_b", "<b>",
  "&nbsp;", "\\n", "''", "\"\"", "...", "—", "–", "•", "·", "©", "®", "™", "°C", "½", "Ⅻ", "①",
];
const joiners = [" ", "  ", "\t", " \t ", "", ", ", "。", "、", " - ", "   ", "\u3000", "/", "_", "\u00a0"];

function mulberry32(seed) {
  return function () {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function corpusLines() {
  const rnd = mulberry32(20261129);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  // Lines are single-line texts: embedded newlines are written as they are
  // in the base list only for the multi-line block cases; here replace them.
  const out = base.map((s) => s.replaceAll("\n", " ⏎ "));
  while (out.length < 1200) {
    const kind = rnd();
    let s;
    if (kind < 0.45) {
      const n = 1 + Math.floor(rnd() * 12);
      const parts = [];
      for (let i = 0; i < n; i++) parts.push(pick(words));
      s = parts.map((p, i) => (i ? pick(joiners) : "") + p).join("");
    } else if (kind < 0.7) {
      s = pick(base).replaceAll("\n", " ") + pick(joiners) + pick(base).replaceAll("\n", " ");
    } else if (kind < 0.85) {
      let num = "";
      const n = 1 + Math.floor(rnd() * 20);
      for (let i = 0; i < n; i++) num += Math.floor(rnd() * 10);
      s = pick(words) + pick([" ", "", "=", ": ", "$", " #"]) + num + pick(["", ".", "%", " km", "元", "円", "원"]);
    } else {
      const b = pick(base).replaceAll("\n", " ");
      const cut = Math.floor(rnd() * b.length);
      s = b.slice(0, cut) + pick(["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|im_start|>", "<think>", " ", "  ", "\t"]) + b.slice(cut);
    }
    // Never split a surrogate pair: keep only well-formed text.
    if (!s.isWellFormed()) continue;
    out.push(s);
  }
  return out;
}
