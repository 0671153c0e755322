package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// pyJSON re-encodes the JSON text raw the way the chat templates' tojson
// filter writes a value (Hugging Face's tojson: Python's json.dumps with
// ensure_ascii=False): ", " and ": " between items, or with indent > 0 one
// item a line and "," at line ends, as json.dumps(indent=n) does. Object
// keys keep their order and numbers their spelling (Python would rewrite
// 1e2 as 100.0; the model wrote 1e2).
func pyJSON(raw []byte, indent int) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var b strings.Builder
	if err := pyValue(&b, dec, indent, 0); err != nil {
		return "", err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("chat: JSON %.40q: text after the value", raw)
	}
	return b.String(), nil
}

func pyValue(b *strings.Builder, dec *json.Decoder, indent, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("chat: JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		open, close := "{", "}"
		if t == '[' {
			open, close = "[", "]"
		} else if t != '{' {
			return fmt.Errorf("chat: JSON: unexpected %v", t)
		}
		b.WriteString(open)
		n := 0
		for dec.More() {
			if n > 0 {
				b.WriteString(",")
				if indent == 0 {
					b.WriteString(" ")
				}
			}
			if indent > 0 {
				b.WriteString("\n")
				b.WriteString(strings.Repeat(" ", indent*(depth+1)))
			}
			if t == '{' {
				key, err := dec.Token()
				if err != nil {
					return fmt.Errorf("chat: JSON: %w", err)
				}
				s, ok := key.(string)
				if !ok {
					return fmt.Errorf("chat: JSON: key %v is not a string", key)
				}
				pyString(b, s)
				b.WriteString(": ")
			}
			if err := pyValue(b, dec, indent, depth+1); err != nil {
				return err
			}
			n++
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("chat: JSON: %w", err)
		}
		if indent > 0 && n > 0 {
			b.WriteString("\n")
			b.WriteString(strings.Repeat(" ", indent*depth))
		}
		b.WriteString(close)
	case string:
		pyString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		fmt.Fprint(b, t)
	case nil:
		b.WriteString("null")
	default:
		return fmt.Errorf("chat: JSON: unexpected %T", tok)
	}
	return nil
}

// pyString writes s as json.dumps(s, ensure_ascii=False) does: only the
// quote, the backslash and control characters are escaped.
func pyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// toolJSON is a tool as the templates' tojson writes it.
func toolJSON(t Tool, indent int) string {
	if t.Type == "" {
		t.Type = "function"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(t); err != nil {
		// Parameters that are not JSON: offer the tool without them.
		t.Function.Parameters = nil
		buf.Reset()
		_ = enc.Encode(t) // strings and nothing else: cannot fail
	}
	s, err := pyJSON(bytes.TrimSpace(buf.Bytes()), indent)
	if err != nil {
		return strings.TrimSpace(buf.String())
	}
	return s
}

// argumentsJSON is a call's arguments as the templates write them (the
// decoded object through tojson); arguments that are not JSON, as a
// malformed call the model wrote carries them, are written as they are.
func argumentsJSON(args string) string {
	if strings.TrimSpace(args) == "" {
		return "{}"
	}
	s, err := pyJSON([]byte(args), 0)
	if err != nil {
		return args
	}
	return s
}
