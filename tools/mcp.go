package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCPServer is one [[tools.mcp]] entry: a Model Context Protocol server
// whose tools are offered to the model as "<name>_<tool>".
type MCPServer struct {
	// Name prefixes the server's tools.
	Name string `toml:"name"`
	// Command starts a server that speaks MCP over its stdin and stdout.
	Command []string `toml:"command"`
	// Env adds KEY=VALUE variables to the command's environment.
	Env []string `toml:"env"`
	// URL is a streamable-HTTP MCP endpoint (used when Command is empty).
	URL string `toml:"url"`
	// AdminOnly offers the server's tools to the bot's admins only.
	AdminOnly bool `toml:"admin_only"`
}

// Validate checks an entry before anything is started.
func (s MCPServer) Validate() error {
	switch {
	case !validName(s.Name) || strings.Contains(s.Name, "_"):
		return fmt.Errorf("tools.mcp: name %q: use letters, digits and '-' (it prefixes the server's tools with '_')", s.Name)
	case len(s.Command) == 0 && s.URL == "":
		return fmt.Errorf("tools.mcp %s: set command (stdio) or url (streamable HTTP)", s.Name)
	case len(s.Command) > 0 && s.URL != "":
		return fmt.Errorf("tools.mcp %s: set command or url, not both", s.Name)
	case s.URL != "" && !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
		return fmt.Errorf("tools.mcp %s: url %q must be http(s)", s.Name, s.URL)
	}
	for _, kv := range s.Env {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("tools.mcp %s: env entry %q is not KEY=VALUE", s.Name, kv)
		}
	}
	return nil
}

// MCPOptions tune RunMCP.
type MCPOptions struct {
	// MinBackoff and MaxBackoff bound the wait before restarting a server
	// that died or could not be reached (defaults 1 s and 1 min); it
	// doubles with every failure in a row and resets once a connection
	// has lasted a minute.
	MinBackoff, MaxBackoff time.Duration
	// CallTimeout bounds one tool call (default 60 s).
	CallTimeout time.Duration
	// HTTPClient reaches streamable-HTTP servers (default one honouring
	// HTTP_PROXY).
	HTTPClient *http.Client
	Log        *slog.Logger
}

// RunMCP keeps the server connected and its tools offered in set until
// ctx is cancelled: it starts (or connects to) the server, lists its
// tools and adds them; when the server dies they are withdrawn, and it is
// started again after a back-off. It returns when ctx is done.
func RunMCP(ctx context.Context, srv MCPServer, set *Set, opts MCPOptions) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = time.Minute
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("mcp", srv.Name)
	wait := opts.MinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		names, err := serveMCP(ctx, srv, set, opts, log)
		set.Remove(names...)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			wait = opts.MinBackoff
		}
		log.Warn("MCP server unavailable; its tools are withdrawn until it is back", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, opts.MaxBackoff)
	}
}

// serveMCP connects once, offers the server's tools and waits until the
// session ends; it returns the names it added.
func serveMCP(ctx context.Context, srv MCPServer, set *Set, opts MCPOptions, log *slog.Logger) ([]string, error) {
	var transport mcp.Transport
	if len(srv.Command) > 0 {
		cmd := exec.CommandContext(ctx, srv.Command[0], srv.Command[1:]...)
		cmd.Env = append(os.Environ(), srv.Env...)
		cmd.Stderr = &logWriter{log: log}
		transport = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	} else {
		hc := opts.HTTPClient
		if hc == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.Proxy = http.ProxyFromEnvironment
			hc = &http.Client{Transport: tr}
		}
		transport = &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, MaxRetries: -1}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "chatloop", Version: "1"}, nil)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cs, err := client.Connect(cctx, transport, nil)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer cs.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var names []string
	for t, err := range cs.Tools(lctx, nil) {
		if err != nil {
			return names, fmt.Errorf("listing tools: %w", err)
		}
		name := srv.Name + "_" + t.Name
		schema, err := json.Marshal(t.InputSchema)
		if err != nil || t.InputSchema == nil {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		remote := t.Name
		err = set.Add(Tool{
			Name: name, Description: t.Description, Parameters: schema, AdminOnly: srv.AdminOnly,
			Run: func(ctx context.Context, args json.RawMessage) (Result, error) {
				ctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
				defer cancel()
				return callMCP(ctx, cs, remote, args)
			},
		})
		if err != nil {
			log.Warn("MCP tool not offered", "tool", t.Name, "err", err)
			continue
		}
		names = append(names, name)
	}
	log.Info("MCP server connected", "tools", names)
	stop := context.AfterFunc(ctx, func() { cs.Close() })
	defer stop()
	err = cs.Wait()
	if err == nil {
		err = errors.New("the server closed the session")
	}
	return names, err
}

// callMCP runs one call and turns its content into the tool's text; a
// result the server marks as an error is returned as an error, so the
// model is told the call failed.
func callMCP(ctx context.Context, cs *mcp.ClientSession, name string, args json.RawMessage) (Result, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return Result{}, err
	}
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ResourceLink:
			parts = append(parts, c.URI)
		default:
			parts = append(parts, fmt.Sprintf("[%T content left out]", c))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		parts = append(parts, string(b))
	}
	text := strings.Join(parts, "\n")
	if res.IsError {
		return Result{}, fmt.Errorf("the tool reported an error: %s", oneLine(text, 2000))
	}
	return Result{Text: text}, nil
}

// logWriter passes a server's standard error to the log, line by line.
type logWriter struct {
	log *slog.Logger
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.log.Debug("MCP server stderr", "line", string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.buf = w.buf[:0]
	}
	return len(p), nil
}
