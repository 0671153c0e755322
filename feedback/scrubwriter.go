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
// every message's content, and a raw row's prompt and text. Placeholders
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

func (sw *ScrubWriter) scrubMessages(ms []Message) {
	for i := range ms {
		ms[i].Content = sw.s.Text(ms[i].Content)
	}
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
			sw.scrubMessages(r.Prompt)
			sw.scrubMessages(r.Chosen)
			sw.scrubMessages(r.Rejected)
			row = r
		}
	case FormatOpenAIDPO:
		var r OpenAIDPORow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubMessages(r.Input.Messages)
			sw.scrubMessages(r.PreferredOutput)
			sw.scrubMessages(r.NonPreferredOutput)
			row = r
		}
	case FormatKTO:
		var r KTORow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubMessages(r.Prompt)
			sw.scrubMessages(r.Completion)
			row = r
		}
	case FormatSFT, FormatOpenAISFT:
		var r SFTRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubMessages(r.Messages)
			row = r
		}
	case FormatRaw:
		var r RawRow
		if err = json.Unmarshal(b, &r); err == nil {
			sw.scrubMessages(r.Prompt)
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
