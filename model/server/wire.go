package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The request and response bodies of the OpenAI API, as far as the
// server speaks it. Unknown request fields are ignored, as OpenAI's and
// llama.cpp's servers ignore them.

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []wireMessage   `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	TopK                *int            `json:"top_k"` // llama.cpp's extension
	MinP                *float64        `json:"min_p"` // llama.cpp's extension
	Seed                *int64          `json:"seed"`
	Stop                stopList        `json:"stop"`
	N                   *int            `json:"n"`
	Tools               []wireTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
}

type completionRequest struct {
	Model         string         `json:"model"`
	Prompt        promptList     `json:"prompt"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options"`
	MaxTokens     *int           `json:"max_tokens"`
	Temperature   *float64       `json:"temperature"`
	TopP          *float64       `json:"top_p"`
	TopK          *int           `json:"top_k"`
	MinP          *float64       `json:"min_p"`
	Seed          *int64         `json:"seed"`
	Stop          stopList       `json:"stop"`
	N             *int           `json:"n"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireMessage is a chat message; its content is a string or an array of
// content parts of which only text parts are accepted.
type wireMessage struct {
	Role       string         `json:"role"`
	Content    textContent    `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls"`   // an assistant's
	ToolCallID string         `json:"tool_call_id"` // a tool result's
	Name       string         `json:"name"`
}

type textContent string

func (c *textContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*c = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = textContent(s)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("content must be a string or an array of content parts")
	}
	var buf bytes.Buffer
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content part of type %q is not supported (text only)", p.Type)
		}
		buf.WriteString(p.Text)
	}
	*c = textContent(buf.String())
	return nil
}

// stopList is "stop": a string or an array of strings.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	return stringOrArray(b, (*[]string)(s), "stop")
}

// promptList is a completion's "prompt": a string or an array of strings.
type promptList []string

func (p *promptList) UnmarshalJSON(b []byte) error {
	return stringOrArray(b, (*[]string)(p), "prompt")
}

func stringOrArray(b []byte, out *[]string, field string) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*out = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*out = []string{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("%s must be a string or an array of strings", field)
	}
	*out = ss
	return nil
}

type usage struct {
	PromptTokens        int           `json:"prompt_tokens"`
	CompletionTokens    int           `json:"completion_tokens"`
	TotalTokens         int           `json:"total_tokens"`
	PromptTokensDetails *tokenDetails `json:"prompt_tokens_details,omitempty"`
}

type tokenDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type outMessage struct {
	Role      string         `json:"role,omitempty"`
	Content   string         `json:"content"`
	ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
	// nullContent writes "content": null, as OpenAI answers a message or
	// a delta that is only tool calls.
	nullContent bool
}

func (m outMessage) MarshalJSON() ([]byte, error) {
	type plain outMessage // without this method
	if !m.nullContent {
		return json.Marshal(plain(m))
	}
	return json.Marshal(struct {
		Role      string         `json:"role,omitempty"`
		Content   *string        `json:"content"`
		ToolCalls []wireToolCall `json:"tool_calls,omitempty"`
	}{m.Role, nil, m.ToolCalls})
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      *outMessage `json:"message,omitempty"`
	Delta        *outMessage `json:"delta,omitempty"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason *string     `json:"finish_reason"`
}

type chatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []chatChoice `json:"choices"`
	Usage             *usage       `json:"usage,omitempty"`
}

type textChoice struct {
	Index        int       `json:"index"`
	Text         string    `json:"text"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type completionResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []textChoice `json:"choices"`
	Usage             *usage       `json:"usage,omitempty"`
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

// apiError is the body of every error response, in OpenAI's shape.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}
