package chat

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
)

// ToolCallParser splits a generated answer, piece by piece as it streams,
// into the text a person may see and the tool calls the model wrote. Text
// that may still turn out to be a call (a partial "<tool_call>", an answer
// that opens like {"name": …) is held back until it is certain, so the
// call's markup never reaches the person.
//
// A call that cannot be read (bad JSON, no name, cut short) is still a
// call: its Name is whatever name could be found and its Arguments the raw
// text, so that whoever runs the calls answers the model with an error
// instead of losing the call. The parser never fails.
//
// The calls have no ID; the caller numbers them.
type ToolCallParser struct {
	format    ToolCallFormat
	buf       strings.Builder // held text: a possible tag prefix, a call's body, a possible JSON call
	inCall    bool            // tagged: inside <tool_call>…
	mode      jsonMode        // JSON format: what the answer turned out to be
	calls     []ToolCall
	afterCall bool   // tagged: the whitespace after a call is dropped
	space     string // tagged: whitespace held until text or a call follows
}

type jsonMode int8

const (
	jsonUndecided jsonMode = iota // only whitespace or a possible call prefix so far
	jsonCall                      // the answer opens like a call: held to the end
	jsonText                      // plain text: streamed through
)

const (
	callOpen  = "<tool_call>"
	callClose = "</tool_call>"
	pythonTag = "<|python_tag|>"
)

// NewToolCallParser reads calls written in format f.
func NewToolCallParser(f ToolCallFormat) *ToolCallParser {
	return &ToolCallParser{format: f}
}

// Write takes the next piece of the answer and returns the text that can
// be shown now (possibly "").
func (p *ToolCallParser) Write(s string) string {
	if p.format == ToolCallsJSON {
		return p.writeJSON(s)
	}
	return p.writeTagged(s)
}

// Close ends the answer: it returns the rest of the visible text and every
// call found.
func (p *ToolCallParser) Close() (string, []ToolCall) {
	rest := p.buf.String()
	p.buf.Reset()
	visible := ""
	if p.format == ToolCallsJSON {
		switch p.mode {
		case jsonCall:
			visible = p.finishJSON(rest)
		default:
			visible = rest
		}
		p.mode = jsonText
	} else {
		if p.inCall {
			p.calls = append(p.calls, malformedCall(rest))
			p.inCall = false
		} else {
			visible = p.visible(rest) + p.space
			p.space = ""
		}
	}
	return visible, p.calls
}

// writeTagged is Write for <tool_call> tags.
func (p *ToolCallParser) writeTagged(s string) string {
	p.buf.WriteString(s)
	text := p.buf.String()
	var out strings.Builder
	for {
		if p.inCall {
			end := strings.Index(text, callClose)
			if end < 0 {
				break
			}
			p.calls = append(p.calls, parseCall(text[:end]))
			text = text[end+len(callClose):]
			p.inCall, p.afterCall = false, true
			continue
		}
		start := strings.Index(text, callOpen)
		if start < 0 {
			keep := partialSuffix(text, callOpen)
			out.WriteString(p.visible(text[:len(text)-keep]))
			text = text[len(text)-keep:]
			break
		}
		out.WriteString(p.visible(text[:start]))
		text = text[start+len(callOpen):]
		p.inCall, p.space = true, ""
	}
	p.buf.Reset()
	p.buf.WriteString(text)
	return out.String()
}

// visible passes text through, less the whitespace around calls: the
// whitespace at the end of the text is held until more text follows, and
// dropped when a call does (the templates write an answer's text and its
// calls with their own separators).
func (p *ToolCallParser) visible(text string) string {
	if p.afterCall {
		text = strings.TrimLeftFunc(text, unicode.IsSpace)
		if text != "" {
			p.afterCall = false
		}
	}
	body := strings.TrimRightFunc(text, unicode.IsSpace)
	if body == "" {
		p.space += text
		return ""
	}
	out := p.space + body
	p.space = text[len(body):]
	return out
}

// partialSuffix is the length of the longest end of text that begins tag
// (and is shorter than it).
func partialSuffix(text, tag string) int {
	for n := min(len(tag)-1, len(text)); n > 0; n-- {
		if strings.HasPrefix(tag, text[len(text)-n:]) {
			return n
		}
	}
	return 0
}

// writeJSON is Write for Llama 3.1's JSON calls.
func (p *ToolCallParser) writeJSON(s string) string {
	if p.mode == jsonText {
		return s
	}
	p.buf.WriteString(s)
	if p.mode == jsonCall {
		return ""
	}
	text := p.buf.String()
	switch opensCall(text) {
	case opensYes:
		p.mode = jsonCall
		return ""
	case opensNo:
		p.mode = jsonText
		p.buf.Reset()
		return text
	}
	return ""
}

type opens int8

const (
	opensMaybe opens = iota
	opensYes
	opensNo
)

// opensCall says whether an answer beginning with text is a JSON call:
// optional whitespace and <|python_tag|>, then { and a "name", "type" or
// "function" key.
func opensCall(text string) opens {
	t := strings.TrimLeftFunc(text, unicode.IsSpace)
	if t == "" {
		return opensMaybe
	}
	if strings.HasPrefix(t, pythonTag) {
		t = strings.TrimLeftFunc(t[len(pythonTag):], unicode.IsSpace)
		if t == "" {
			return opensMaybe
		}
	} else if strings.HasPrefix(pythonTag, t) {
		return opensMaybe
	}
	if t[0] != '{' {
		return opensNo
	}
	t = strings.TrimLeftFunc(t[1:], unicode.IsSpace)
	if t == "" {
		return opensMaybe
	}
	for _, key := range []string{`"name"`, `"type"`, `"function"`} {
		if strings.HasPrefix(t, key) {
			return opensYes
		}
		if strings.HasPrefix(key, t) {
			return opensMaybe
		}
	}
	return opensNo
}

// finishJSON reads the held answer that opened like a call: a call (and
// any text after its object), a malformed call, or, when it is a JSON
// object that is no call (no arguments), plain text.
func (p *ToolCallParser) finishJSON(text string) string {
	body := strings.TrimLeftFunc(text, unicode.IsSpace)
	body = strings.TrimLeftFunc(strings.TrimPrefix(body, pythonTag), unicode.IsSpace)
	dec := json.NewDecoder(strings.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		p.calls = append(p.calls, malformedCall(body))
		return ""
	}
	call, ok := readCall(raw)
	if !ok {
		if hasArguments(raw) {
			p.calls = append(p.calls, malformedCall(string(raw)))
			return ""
		}
		return text
	}
	p.calls = append(p.calls, call)
	return strings.TrimSpace(body[dec.InputOffset():])
}

// parseCall reads the body of a <tool_call> element.
func parseCall(body string) ToolCall {
	if call, ok := readCall([]byte(strings.TrimSpace(body))); ok {
		return call
	}
	return malformedCall(body)
}

// callObject is a call as the families write it: {"name", "arguments"}
// (Qwen), {"name", "parameters"} (Llama 3.1), or OpenAI's {"type":
// "function", "function": {…}}.
type callObject struct {
	Name       string          `json:"name"`
	Arguments  json.RawMessage `json:"arguments"`
	Parameters json.RawMessage `json:"parameters"`
	Function   *callObject     `json:"function"`
}

// readCall reads one well-formed call: an object with a name and
// arguments that are a JSON object (or a string holding one).
func readCall(raw []byte) (ToolCall, bool) {
	var c callObject
	if err := json.Unmarshal(raw, &c); err != nil {
		return ToolCall{}, false
	}
	if c.Name == "" && c.Function != nil {
		c = *c.Function
	}
	args := c.Arguments
	if args == nil {
		args = c.Parameters
	}
	if c.Name == "" || args == nil {
		return ToolCall{}, false
	}
	var s string
	if json.Unmarshal(args, &s) == nil {
		args = []byte(s) // arguments written as a JSON string
	}
	if string(args) == "null" {
		args = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(args, &obj) != nil {
		return ToolCall{}, false
	}
	var compact bytes.Buffer
	if json.Compact(&compact, args) != nil {
		return ToolCall{}, false
	}
	return ToolCall{Type: "function", Function: FunctionCall{Name: c.Name, Arguments: compact.String()}}, true
}

// hasArguments reports whether a JSON object has an "arguments" or
// "parameters" key: it meant to be a call.
func hasArguments(raw []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, a := m["arguments"]
	_, b := m["parameters"]
	return a || b
}

var nameRE = regexp.MustCompile(`"name"\s*:\s*"((?:[^"\\]|\\.)*)"`)

// malformedCall is a call that could not be read: the name if one can be
// found, and the raw text as its arguments.
func malformedCall(body string) ToolCall {
	name := ""
	if m := nameRE.FindStringSubmatch(body); m != nil {
		if err := json.Unmarshal([]byte(`"`+m[1]+`"`), &name); err != nil {
			name = m[1]
		}
	}
	return ToolCall{Type: "function", Function: FunctionCall{Name: name, Arguments: strings.TrimSpace(body)}}
}
