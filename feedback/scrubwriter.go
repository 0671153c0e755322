package feedback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/chatloop/chatloop/feedback/scrub"
)

// maxScrubLine bounds one exported row held in memory while it is
// scrubbed.
const maxScrubLine = 64 << 20

// ScrubWriter scrubs personal data (see package scrub) out of the JSON
// lines of an export as they pass through it to the writer underneath:
// every message's content and tool call arguments (the strings inside
// them), and a raw row's prompt, tool steps and text. Placeholders
// are consistent within a row (a pair's prompt and both answers) and
// counted across the export. Close flushes it.
type ScrubWriter struct {
	w      io.Writer
	format string
	buf    []byte
	s      *scrub.Scrubber
	err    error
}

// NewScrubWriter scrubs an export of format on its way to w.
func NewScrubWriter(w io.Writer, format string) *ScrubWriter {
	return &ScrubWriter{w: w, format: format, s: scrub.New()}
}

// Write takes export output; complete lines are scrubbed and passed on.
func (sw *ScrubWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	sw.buf = append(sw.buf, p...)
	for {
		i := bytes.IndexByte(sw.buf, '\n')
		if i < 0 {
			break
		}
		if err := sw.line(sw.buf[:i]); err != nil {
			sw.err = err
			return 0, err
		}
		sw.buf = sw.buf[i+1:]
	}
	if len(sw.buf) > maxScrubLine {
		sw.err = fmt.Errorf("scrubbing: a row is over %d MiB", maxScrubLine>>20)
		return 0, sw.err
	}
	if len(sw.buf) == 0 {
		sw.buf = nil // let a big row's buffer go
	}
	return len(p), nil
}

// Close checks that the export ended with a complete row.
func (sw *ScrubWriter) Close() error {
	if sw.err != nil {
		return sw.err
	}
	if len(bytes.TrimSpace(sw.buf)) > 0 {
		return errors.New("scrubbing: the export ended inside a row")
	}
	return nil
}

// Summary describes what was scrubbed, for standard error.
func (sw *ScrubWriter) Summary() string { return sw.s.Summary() }

// Counts is how many values of each kind were replaced.
func (sw *ScrubWriter) Counts() map[scrub.Kind]int { return sw.s.Counts() }

// scrubMessages scrubs stored-shape messages: contents and tool call
// arguments (raw rows).
func (sw *ScrubWriter) scrubMessages(ms []Message) {
	for i := range ms {
		ms[i].Content = sw.s.Text(ms[i].Content)
		for j := range ms[i].ToolCalls {
			f := &ms[i].ToolCalls[j].Function
			f.Arguments = sw.jsonText(f.Arguments)
		}
	}
}

func (sw *ScrubWriter) scrubTRL(ms []TRLMessage) {
	for i := range ms {
		ms[i].Content = sw.s.Text(ms[i].Content)
		for j := range ms[i].ToolCalls {
			f := &ms[i].ToolCalls[j].Function
			f.Arguments = sw.jsonValue(f.Arguments)
		}
	}
}

func (sw *ScrubWriter) scrubOpenAI(ms []OpenAIMessage) {
	for i := range ms {
		if ms[i].Content != nil {
			c := sw.s.Text(*ms[i].Content)
			ms[i].Content = &c
		}
		for j := range ms[i].ToolCalls {
			f := &ms[i].ToolCalls[j].Function
			f.Arguments = sw.jsonText(f.Arguments)
		}
	}
}

// jsonText scrubs tool call arguments written as JSON text: the strings
// inside them when they are JSON, the text itself when not.
func (sw *ScrubWriter) jsonText(s string) string {
	if !json.Valid([]byte(s)) {
		return sw.s.Text(s)
	}
	return string(sw.jsonValue(json.RawMessage(s)))
}

// jsonValue scrubs every string (not the keys) in a JSON value; a value
// with nothing to scrub comes back as it was.
func (sw *ScrubWriter) jsonValue(raw json.RawMessage) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			if y := sw.s.Text(x); y != x {
				changed = true
				return y
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = walk(x[k])
			}
		}
		return v
	}
	v = walk(v)
	if !changed {
		return raw
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return raw
	}
	return bytes.TrimRight(out.Bytes(), "\n")
}

// line scrubs one row.
func (sw *ScrubWriter) line(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	sw.s.Reset()
	var row any
	var err error
	switch sw.format {
	case FormatPreference:
		var r PreferenceRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubTRL(r.Prompt)
			sw.scrubTRL(r.Chosen)
			sw.scrubTRL(r.Rejected)
			row = r
		}
	case FormatOpenAIDPO:
		var r OpenAIDPORow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubOpenAI(r.Input.Messages)
			sw.scrubOpenAI(r.PreferredOutput)
			sw.scrubOpenAI(r.NonPreferredOutput)
			row = r
		}
	case FormatKTO:
		var r KTORow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubTRL(r.Prompt)
			sw.scrubTRL(r.Completion)
			row = r
		}
	case FormatSFT:
		var r SFTRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubTRL(r.Messages)
			row = r
		}
	case FormatOpenAISFT:
		var r OpenAISFTRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubOpenAI(r.Messages)
			row = r
		}
	case FormatRaw:
		var r RawRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubMessages(r.Prompt)
			sw.scrubMessages(r.Steps)
			r.Text = sw.s.Text(r.Text)
			row = r
		}
	default:
		return fmt.Errorf("%w: cannot scrub format %q", ErrInvalid, sw.format)
	}
	if err != nil {
		return fmt.Errorf("scrubbing a %s row: %w", sw.format, err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(row); err != nil {
		return err
	}
	_, err = sw.w.Write(out.Bytes())
	return err
}
