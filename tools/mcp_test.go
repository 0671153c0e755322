package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The test binary is also a real MCP server (the Go SDK's, over stdio)
// when GO_WANT_MCP_SERVER=1: tests start it as [[tools.mcp]] would.
func TestMain(m *testing.M) {
	if os.Getenv("GO_WANT_MCP_SERVER") == "1" {
		if err := testMCPServer().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, "mcp server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type echoIn struct {
	Text string `json:"text" jsonschema:"what to say back"`
}

func testMCPServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test-server", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Says the text back."}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails."}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, errors.New("the disk is on fire")
	})
	mcp.AddTool(s, &mcp.Tool{Name: "crash", Description: "Ends the server."}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		os.Exit(3)
		return nil, nil, nil
	})
	return s
}

// waitTools waits until set offers exactly the named tools (or none).
func waitTools(t *testing.T, set *Set, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got []string
		for _, tool := range set.Tools(nil) {
			got = append(got, tool.Name)
		}
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tools %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMCPStdioServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := MCPServer{Name: "files", Command: []string{exe, "-test.run=^$"}, Env: []string{"GO_WANT_MCP_SERVER=1"}}
	if err := srv.Validate(); err != nil {
		t.Fatal(err)
	}
	var set Set
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		RunMCP(ctx, srv, &set, MCPOptions{MinBackoff: 300 * time.Millisecond, MaxBackoff: time.Second})
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitTools(t, &set, "files_crash", "files_echo", "files_fail")

	var echo Tool
	for _, tool := range set.Tools(nil) {
		if tool.Name == "files_echo" {
			echo = tool
		}
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(echo.Parameters, &schema); err != nil || schema.Properties["text"] == nil || echo.Description != "Says the text back." {
		t.Errorf("files_echo offered as %+v (schema %s)", echo, echo.Parameters)
	}
	res, err := set.Call(ctx, "files_echo", json.RawMessage(`{"text":"你好"}`))
	if err != nil || res.Text != "echo: 你好" {
		t.Errorf("echo: %q, %v", res.Text, err)
	}
	if _, err := set.Call(ctx, "files_fail", nil); err == nil || !strings.Contains(err.Error(), "the disk is on fire") {
		t.Errorf("fail: %v, want the server's error", err)
	}
	if _, err := set.Call(ctx, "files_echo", json.RawMessage(`{"text":3}`)); err == nil {
		t.Error("arguments against the schema were accepted")
	}

	// The server dies: its tools go, then come back with a new process.
	if _, err := set.Call(ctx, "files_crash", nil); err == nil {
		t.Error("a call that killed the server succeeded")
	}
	waitTools(t, &set)
	waitTools(t, &set, "files_crash", "files_echo", "files_fail")
	if res, err := set.Call(ctx, "files_echo", json.RawMessage(`{"text":"again"}`)); err != nil || res.Text != "echo: again" {
		t.Errorf("after the restart: %q, %v", res.Text, err)
	}
	cancel()
	<-done
	if tools := set.Tools(nil); len(tools) != 0 {
		t.Errorf("tools left after RunMCP ended: %v", tools)
	}
}

func TestMCPStreamableHTTP(t *testing.T) {
	server := testMCPServer()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer hs.Close()
	var set Set
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		RunMCP(ctx, MCPServer{Name: "web", URL: hs.URL}, &set, MCPOptions{MinBackoff: 50 * time.Millisecond})
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitTools(t, &set, "web_crash", "web_echo", "web_fail")
	if res, err := set.Call(ctx, "web_echo", json.RawMessage(`{"text":"over http"}`)); err != nil || res.Text != "echo: over http" {
		t.Errorf("echo: %q, %v", res.Text, err)
	}
}

func TestMCPServerValidate(t *testing.T) {
	for _, s := range []MCPServer{
		{Name: "", Command: []string{"x"}},
		{Name: "a_b", Command: []string{"x"}},
		{Name: "a"},
		{Name: "a", Command: []string{"x"}, URL: "http://h/"},
		{Name: "a", URL: "file:///x"},
		{Name: "a", Command: []string{"x"}, Env: []string{"NOVALUE"}},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
