package remote

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errServer marks an error the server reported inside a 200 response.
var errServer = errors.New("server error")

// maxLine bounds one line of the event stream.
const maxLine = 4 << 20

type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content   string         `json:"content"`
			ToolCalls []wireToolCall `json:"tool_calls"`
		} `json:"delta"`
		Message *struct {
			Content   string         `json:"content"`
			ToolCalls []wireToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// readStream reads a chat completion event stream: "data: {chunk}" events
// ending with "data: [DONE]". It returns what arrived, and an error when
// the stream ended before the server said the answer was complete.
//
// Tool calls arrive in pieces (delta.tool_calls, by index) and are
// returned only when the stream ended complete: half a call's arguments
// must not run.
func readStream(r io.Reader, onDelta func(string)) (out Response, err error) {
	var text strings.Builder
	var calls toolCallAssembler
	defer func() {
		out.Text = text.String()
		if err == nil {
			out.ToolCalls = calls.result()
		}
	}()
	br := bufio.NewReaderSize(r, 64<<10)
	var data bytes.Buffer
	hasData := false

	dispatch := func() (done bool, err error) {
		if !hasData {
			return false, nil
		}
		payload := bytes.TrimSpace(data.Bytes())
		data.Reset()
		hasData = false
		if string(payload) == "[DONE]" {
			return true, nil
		}
		if len(payload) == 0 {
			return false, nil
		}
		var ch chunk
		if err := json.Unmarshal(payload, &ch); err != nil {
			return false, fmt.Errorf("%w: unreadable event %.80q: %v", errServer, payload, err)
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			return false, fmt.Errorf("%w: %s", errServer, serverMessage(bytes.NewReader(payload)))
		}
		if ch.Model != "" {
			out.Model = ch.Model
		}
		for i, c := range ch.Choices {
			if i > 0 {
				break // n is always 1
			}
			piece := c.Delta.Content
			pieces := c.Delta.ToolCalls
			if c.Message != nil && piece == "" {
				piece = c.Message.Content
			}
			if c.Message != nil && len(pieces) == 0 {
				pieces = c.Message.ToolCalls
			}
			if err := calls.add(pieces); err != nil {
				return false, err
			}
			if piece != "" {
				text.WriteString(piece)
				if onDelta != nil {
					onDelta(piece)
				}
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				out.FinishReason = *c.FinishReason
			}
		}
		if ch.Usage != nil {
			out.PromptTokens = ch.Usage.PromptTokens
			out.CompletionTokens = ch.Usage.CompletionTokens
		}
		return false, nil
	}

	for {
		line, err := readLine(br)
		if err != nil {
			// A line without its newline is an event cut mid-way: dropped.
			if errors.Is(err, io.EOF) {
				if done, derr := dispatch(); derr != nil || done {
					return out, derr
				}
				if out.FinishReason != "" {
					return out, nil // complete, only [DONE] missing
				}
				return out, errors.New("the stream ended before the answer was complete")
			}
			return out, fmt.Errorf("reading the answer stream: %w", err)
		}
		switch {
		case len(line) == 0:
			if done, err := dispatch(); err != nil || done {
				return out, err
			}
		case line[0] == ':':
			// comment (keep-alive)
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			if string(field) == "data" {
				if hasData {
					data.WriteByte('\n')
				}
				data.Write(value)
				hasData = true
			}
		}
	}
}

// readLine reads one line without its "\n" or "\r\n".
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("%w: an event line longer than %d bytes", errServer, maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return line, err
		}
		break
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// readCompletion reads a non-streamed chat completion, for servers that
// ignore "stream": true.
func readCompletion(r io.Reader) (Response, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Response{}, fmt.Errorf("reading the answer: %w", err)
	}
	var ch chunk
	if err := json.Unmarshal(b, &ch); err != nil {
		return Response{}, fmt.Errorf("%w: unreadable answer: %v", errServer, err)
	}
	if len(ch.Error) > 0 && string(ch.Error) != "null" {
		return Response{}, fmt.Errorf("%w: %s", errServer, serverMessage(bytes.NewReader(b)))
	}
	out := Response{Model: ch.Model}
	if len(ch.Choices) > 0 {
		if m := ch.Choices[0].Message; m != nil {
			out.Text = m.Content
			var calls toolCallAssembler
			if err := calls.add(m.ToolCalls); err != nil {
				return Response{}, err
			}
			out.ToolCalls = calls.result()
		}
		if f := ch.Choices[0].FinishReason; f != nil {
			out.FinishReason = *f
		}
	}
	if ch.Usage != nil {
		out.PromptTokens, out.CompletionTokens = ch.Usage.PromptTokens, ch.Usage.CompletionTokens
	}
	return out, nil
}
