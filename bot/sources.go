package bot

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sourceList numbers the sources of one answer's tool results from 1, in
// the order they came, one number per URL.
type sourceList struct {
	list  []Source
	byURL map[string]int
}

// sourceMarker is a result line that numbers a source: "[k] ".
var sourceMarker = regexp.MustCompile(`(?m)^\[(\d{1,4})\] `)

// add takes a result's sources into the list and returns its text with
// each line-leading "[k] " marker renumbered to the source's number in
// the answer, so that the model cites one numbering across all results.
func (s *sourceList) add(res ToolResult) string {
	if len(res.Sources) == 0 {
		return res.Text
	}
	if s.byURL == nil {
		s.byURL = map[string]int{}
	}
	nums := make([]int, len(res.Sources))
	for i, src := range res.Sources {
		n, ok := s.byURL[src.URL]
		if !ok {
			s.list = append(s.list, src)
			n = len(s.list)
			s.byURL[src.URL] = n
		}
		nums[i] = n
	}
	return sourceMarker.ReplaceAllStringFunc(res.Text, func(m string) string {
		k, _ := strconv.Atoi(m[1 : len(m)-2])
		if k < 1 || k > len(nums) {
			return m
		}
		return "[" + strconv.Itoa(nums[k-1]) + "] "
	})
}

// citation is an answer's reference to sources: [2], [1, 3], [1][2].
var citation = regexp.MustCompile(`\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]`)

// cited lists the numbers of the sources text cites, ascending; numbers
// no source has are left out.
func cited(text string, n int) []int {
	seen := map[int]bool{}
	var out []int
	for _, m := range citation.FindAllStringSubmatch(text, -1) {
		for _, part := range strings.Split(m[1], ",") {
			k, err := strconv.Atoi(strings.TrimSpace(part))
			if err == nil && k >= 1 && k <= n && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// sourcesFooter lists the sources an answer cites as numbered links, for
// chatloop to append to it: the URLs come from the tool results, never
// from the model's text. "" when it cites none.
func sourcesFooter(question, answer string, list []Source) string {
	nums := cited(answer, len(list))
	if len(nums) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\n")
	b.WriteString(phrase(question, "Sources:", "来源："))
	for _, k := range nums {
		b.WriteString("\n")
		b.WriteString(sourceLine(k, list[k-1]))
	}
	return b.String()
}

func sourceLine(k int, s Source) string {
	title := clip(s.Title, 100)
	if title == "" || title == s.URL {
		return fmt.Sprintf("[%d] %s", k, s.URL)
	}
	return fmt.Sprintf("[%d] %s: %s", k, title, s.URL)
}

// stepSource is a numbered source as a tool message shows it: "[k] title"
// on one line and its URL on the next.
var stepSource = regexp.MustCompile(`(?m)^\[(\d{1,4})\] ([^\n]*)\n(https?://\S+)[ \t]*$`)

// numberedSource is a source with its number in an answer.
type numberedSource struct {
	n int
	Source
}

// sourcesOf reads an answer's numbered sources back from its tool
// messages (the numbers the core gave them), in number order.
func sourcesOf(steps []Turn) []numberedSource {
	byNum := map[int]Source{}
	for _, t := range steps {
		if t.Role != RoleTool {
			continue
		}
		for _, m := range stepSource.FindAllStringSubmatch(t.Content, -1) {
			k, _ := strconv.Atoi(m[1])
			if _, ok := byNum[k]; !ok {
				byNum[k] = Source{Title: strings.TrimSpace(m[2]), URL: m[3]}
			}
		}
	}
	out := make([]numberedSource, 0, len(byNum))
	for k, s := range byNum {
		out = append(out, numberedSource{k, s})
	}
	slices.SortFunc(out, func(a, b numberedSource) int { return a.n - b.n })
	return out
}

// listSources shows every source of the last answer shown in the chat
// (/sources), read back from its recorded tool rounds, so that it
// survives a restart.
func (c *Core) listSources(ctx context.Context, m Message, r Replier) {
	if c.opts.Store == nil {
		c.send(ctx, r, phrase(m.Text, "/sources needs the feedback store, which is off.", "/来源 需要反馈数据库，但它没有开启。"))
		return
	}
	recent, err := c.opts.Store.RecentAnswers(ctx, m.Platform, m.ChatID, "", time.Time{}, 8)
	if err != nil {
		c.log.Error("reading the last answer for /sources", "err", err)
		c.send(ctx, r, phrase(m.Text, "Sorry, I could not read the last answer.", "抱歉，没能读取上一个回答。"))
		return
	}
	for _, a := range recent {
		if !a.Sent {
			continue
		}
		list := sourcesOf(a.Steps)
		if len(list) == 0 {
			c.send(ctx, r, phrase(m.Text, "The last answer here cites no sources.", "这里的上一个回答没有引用来源。"))
			return
		}
		var b strings.Builder
		b.WriteString(phrase(m.Text, "Sources of the last answer:", "上一个回答的来源："))
		for _, s := range list {
			b.WriteString("\n")
			b.WriteString(sourceLine(s.n, s.Source))
		}
		c.send(ctx, r, b.String())
		return
	}
	c.send(ctx, r, phrase(m.Text, "There is no answer here yet.", "这里还没有回答。"))
}

// sourceListLine is one line of the list sourcesFooter writes.
var sourceListLine = regexp.MustCompile(`^\[\d{1,4}\] .*https?://\S+$`)

// withoutSourceLists removes the lists of sources chatloop appended to
// its answers from history a platform provides (a Discord reply chain),
// so that the model sees its own text, as the session's history keeps
// it, and never learns to write such lists itself.
func withoutSourceLists(history []Turn) []Turn {
	var out []Turn
	for i, t := range history {
		if t.Role != RoleAssistant {
			continue
		}
		for _, head := range []string{"\n\nSources:\n", "\n\n来源：\n"} {
			at := strings.LastIndex(t.Content, head)
			if at < 0 {
				continue
			}
			lines := strings.Split(t.Content[at+len(head):], "\n")
			ok := true
			for _, l := range lines {
				ok = ok && sourceListLine.MatchString(l)
			}
			if ok {
				if out == nil {
					out = slices.Clone(history)
				}
				out[i].Content = t.Content[:at]
				break
			}
		}
	}
	if out == nil {
		return history
	}
	return out
}
