package bot

import (
	"strings"
	"unicode/utf8"
)

// SplitReply splits text into chunks of at most limit characters (runes),
// for platforms that cap a message's length (Discord: 2000). See
// SplitReplyBytes for platforms that count bytes.
func SplitReply(text string, limit int) []string {
	return splitReply(text, limit, func(int) int { return 1 })
}

// SplitReplyBytes is SplitReply with the limit counted in bytes (WeCom).
func SplitReplyBytes(text string, limit int) []string {
	return splitReply(text, limit, func(size int) int { return size })
}

// fenceClose is appended to a chunk that ends inside a fenced code block;
// the next chunk re-opens the fence with the same info string.
const fenceClose = "\n```"

// minFenceLimit is the smallest limit at which fences are re-opened; below
// it chunks are cut plainly.
const minFenceLimit = 16

// splitReply cuts text on the last paragraph break, else line break, else
// space, else character boundary that fits, never inside a UTF-8 character.
// A chunk that ends inside a ``` fence is closed, and the next one re-opens
// the fence, so each chunk renders on its own. unit gives the cost of a
// character of the given UTF-8 size.
func splitReply(text string, limit int, unit func(size int) int) []string {
	if text == "" {
		return nil
	}
	if limit < 1 {
		limit = 1
	}
	measure := func(s string) int {
		n := 0
		for _, r := range s {
			n += unit(utf8.RuneLen(r))
		}
		return n
	}
	fences := limit >= minFenceLimit
	var chunks []string
	var reopen string // fence line re-opening the block the previous chunk ended in
	consumed := 0
	for consumed < len(text) {
		rest := text[consumed:]
		prefix := reopen
		if prefix != "" && measure(prefix)+measure(fenceClose)+1 > limit {
			prefix = "```\n"
		}
		if measure(prefix+rest) <= limit {
			chunks = append(chunks, prefix+rest)
			break
		}
		budget := limit - measure(prefix)
		if fences {
			budget -= measure(fenceClose)
		}
		cut := cutPoint(rest, budget, unit)
		consumed += cut
		chunk := prefix + rest[:cut]
		reopen = ""
		if fences && consumed < len(text) {
			if in, info := fenceState(text[:consumed]); in {
				chunk += fenceClose
				reopen = "```" + info + "\n"
			}
		}
		chunks = append(chunks, chunk)
	}
	return chunks
}

// cutPoint returns the byte length of the prefix of s to send: the longest
// that fits in budget, shortened to end after the last paragraph break,
// else line break, else space in it. It is always at least one character.
func cutPoint(s string, budget int, unit func(size int) int) int {
	fit, used := 0, 0
	for i, r := range s {
		used += unit(utf8.RuneLen(r))
		if used > budget {
			break
		}
		fit = i + utf8.RuneLen(r)
	}
	if fit == 0 {
		_, size := utf8.DecodeRuneInString(s)
		return size
	}
	window := s[:fit]
	for _, sep := range []string{"\n\n", "\n", " "} {
		if i := strings.LastIndex(window, sep); i > 0 {
			return i + len(sep)
		}
	}
	return fit
}

// fenceState reports whether text ends inside a ``` fenced block (a line
// starting with ``` opens or closes one) and the open fence's info string.
func fenceState(text string) (in bool, info string) {
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "```") {
			continue
		}
		if in {
			in, info = false, ""
		} else {
			in, info = true, strings.TrimSpace(strings.TrimPrefix(line, "```"))
		}
	}
	return in, info
}
