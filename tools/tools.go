// Package tools holds what a model may call while it answers: the built-in
// web_search (a SearXNG instance's JSON API), fetch_url (a page's readable
// text, refusing private addresses) and current_time. A Set offers them
// under their names with JSON-schema parameters, as the chat completions
// API and the chat templates describe tools, and runs a call. A refused or
// failed call is an error the caller hands back to the model as the
// tool's answer; nothing here panics on what a model or a page sends.
package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Tool is one callable tool.
type Tool struct {
	// Name is what the model calls it by: letters, digits, '_' and '-'.
	Name        string
	Description string
	// Parameters is the JSON schema of the call's arguments (an object).
	Parameters json.RawMessage
	// AdminOnly tools are offered only to the bot's admins.
	AdminOnly bool
	// Run performs a call with its arguments (a JSON object).
	Run func(ctx context.Context, args json.RawMessage) (Result, error)
}

// Result is what a call returns to the model.
type Result struct {
	// Text goes back to the model as the tool's message.
	Text string
	// Sources are the pages the text draws on, numbered from 1 in the
	// order the text cites them ([1], [2]...), so that the answer's
	// references can be resolved to links.
	Sources []Source
}

// Source is a page a result draws on.
type Source struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Errors a call can end with, wrapped with details.
var (
	// ErrUnknownTool: no tool of that name is offered.
	ErrUnknownTool = errors.New("unknown tool")
	// ErrBadArguments: the arguments are not what the tool's schema asks.
	ErrBadArguments = errors.New("bad arguments")
	// ErrRefused: the call asks for something the policy forbids (a
	// private address, a scheme other than http(s)).
	ErrRefused = errors.New("refused")
)

// Set is the tools on offer. The zero value offers none. It is safe for
// concurrent use: MCP servers add and withdraw their tools while answers
// list and call them.
type Set struct {
	mu     sync.RWMutex
	byName map[string]Tool
}

// Add offers t; a second tool of the same name replaces the first.
func (s *Set) Add(t Tool) error {
	if !validName(t.Name) {
		return fmt.Errorf("tools: name %q: use letters, digits, '_' and '-' (at most 64)", t.Name)
	}
	if t.Run == nil {
		return fmt.Errorf("tools: %s has nothing to run", t.Name)
	}
	if len(t.Parameters) == 0 {
		t.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName == nil {
		s.byName = map[string]Tool{}
	}
	s.byName[t.Name] = t
	return nil
}

// Remove withdraws the named tools.
func (s *Set) Remove(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		delete(s.byName, n)
	}
}

// Tools lists the tools on offer, by name; allow, when not nil, keeps
// only the tools it returns true for.
func (s *Set) Tools(allow func(Tool) bool) []Tool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Tool, 0, len(s.byName))
	for _, t := range s.byName {
		if allow == nil || allow(t) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Call runs the named tool. Arguments that are not a JSON object (a model
// may send "" or a string holding JSON) are refused with ErrBadArguments.
func (s *Set) Call(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	s.mu.RLock()
	t, ok := s.byName[name]
	s.mu.RUnlock()
	if !ok {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownTool, name)
	}
	args, err := objectArgs(args)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	res, err := t.Run(ctx, args)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// objectArgs checks that args is a JSON object; a JSON string holding an
// object (as some models double-encode) is unwrapped; empty means {}.
func objectArgs(args json.RawMessage) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(string(args))
	if trimmed == "" || trimmed == "null" {
		return json.RawMessage("{}"), nil
	}
	if strings.HasPrefix(trimmed, `"`) {
		var inner string
		if err := json.Unmarshal([]byte(trimmed), &inner); err == nil {
			trimmed = strings.TrimSpace(inner)
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &obj); err != nil {
		return nil, fmt.Errorf("%w: arguments must be a JSON object: %v", ErrBadArguments, err)
	}
	return json.RawMessage(trimmed), nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// decodeArgs unmarshals a call's arguments into v, strictly.
func decodeArgs(args json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadArguments, err)
	}
	return nil
}
