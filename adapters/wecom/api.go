package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/chatloop/chatloop/adapters/platform"
)

// ErrAPI is wrapped by every error WeCom's API answers with a non-zero
// errcode.
var ErrAPI = errors.New("wecom api")

// APIError is a non-zero errcode from WeCom.
type APIError struct {
	Op      string
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wecom %s: errcode %d: %s", e.Op, e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrAPI) hold.
func (e *APIError) Unwrap() error { return ErrAPI }

// tokenInvalid reports errcodes that mean "get a new access token".
func tokenInvalid(code int) bool {
	switch code {
	case 40014, // invalid access_token
		42001, // access_token expired
		41001: // access_token missing
		return true
	}
	return false
}

// apiClient calls WeCom's server API with a cached access token.
type apiClient struct {
	base    string
	corpID  string
	secret  string
	agentID int64
	http    *http.Client
	now     func() time.Time
	conn    platform.Conn // nil: reports nowhere

	// onToken is told each access token as it is fetched (the log
	// redactor; nil: nobody).
	onToken func(...string)

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// tokenMargin is how long before its expiry a token is renewed: a fifth of
// its lifetime, at most five minutes.
func tokenMargin(life time.Duration) time.Duration {
	return min(life/5, 5*time.Minute)
}

// connection is where the client reports that WeCom's API answers (up)
// or cannot be reached or refuses the application's secret (down).
func (c *apiClient) connection() platform.Conn {
	if c.conn == nil {
		return platform.NoConn{}
	}
	return c.conn
}

// accessToken returns the cached token, fetching a new one when there is
// none or it is near its expiry. Callers share one fetch.
func (c *apiClient) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.renewAt) {
		return c.token, nil
	}
	q := url.Values{"corpid": {c.corpID}, "corpsecret": {c.secret}}
	var res struct {
		errResult
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := c.do(ctx, http.MethodGet, "cgi-bin/gettoken?"+q.Encode(), nil, &res); err != nil {
		return "", err
	}
	if err := res.check("gettoken"); err != nil {
		return "", err
	}
	if res.AccessToken == "" {
		return "", &APIError{Op: "gettoken", Message: "no access_token in the answer"}
	}
	if c.onToken != nil {
		c.onToken(res.AccessToken) // masked in logs before any use of it
	}
	life := time.Duration(res.ExpiresIn) * time.Second
	if life <= 0 {
		life = 2 * time.Hour
	}
	c.token, c.renewAt = res.AccessToken, c.now().Add(life-tokenMargin(life))
	return c.token, nil
}

// dropToken forgets token if it is still the cached one.
func (c *apiClient) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

type errResult struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (r errResult) check(op string) error {
	if r.ErrCode != 0 {
		return &APIError{Op: op, Code: r.ErrCode, Message: r.ErrMsg}
	}
	return nil
}

// call POSTs body to cgi-bin/<op> with the access token, once more with a
// fresh token when WeCom says the token is invalid or expired.
func (c *apiClient) call(ctx context.Context, op string, body any, res interface{ check(string) error }) error {
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.connection().Down(fmt.Errorf("getting an access token: %w", err))
			}
			return err
		}
		if err := c.do(ctx, http.MethodPost, "cgi-bin/"+op+"?access_token="+url.QueryEscape(tok), body, res); err != nil {
			if ctx.Err() == nil {
				c.connection().Down(err)
			}
			return err
		}
		c.connection().Up()
		err = res.check(op)
		var ae *APIError
		if attempt == 0 && errors.As(err, &ae) && tokenInvalid(ae.Code) {
			c.dropToken(tok)
			continue
		}
		return err
	}
}

// do sends one request and decodes the JSON answer into res. Errors never
// include the URL (it carries the secret or the token).
func (c *apiClient) do(ctx context.Context, method, path string, body, res any) error {
	op := path
	if i := bytes.IndexByte([]byte(path), '?'); i >= 0 {
		op = path[:i]
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("wecom %s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("wecom %s: bad request", op)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL with its token
		}
		return fmt.Errorf("wecom %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("wecom %s: reading the answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wecom %s: HTTP %d", op, resp.StatusCode)
	}
	if err := json.Unmarshal(data, res); err != nil {
		return fmt.Errorf("wecom %s: decoding the answer: %w", op, err)
	}
	return nil
}

// sendResult is message/send's answer.
type sendResult struct {
	errResult
	MsgID        string `json:"msgid"`
	ResponseCode string `json:"response_code"`
}

// sendText sends a text message to one member and returns its msgid.
func (c *apiClient) sendText(ctx context.Context, user, text string) (string, error) {
	body := map[string]any{
		"touser":  user,
		"msgtype": "text",
		"agentid": c.agentID,
		"text":    map[string]string{"content": text},
	}
	var res sendResult
	if err := c.call(ctx, "message/send", body, &res); err != nil {
		return "", err
	}
	return res.MsgID, nil
}

// sendCard sends a template card to one member and returns its msgid.
func (c *apiClient) sendCard(ctx context.Context, user string, card templateCard) (string, error) {
	body := map[string]any{
		"touser":        user,
		"msgtype":       "template_card",
		"agentid":       c.agentID,
		"template_card": card,
	}
	var res sendResult
	if err := c.call(ctx, "message/send", body, &res); err != nil {
		return "", err
	}
	return res.MsgID, nil
}

// updateCard replaces the card a member pressed a button on; responseCode
// comes from the template_card_event and can be used once.
func (c *apiClient) updateCard(ctx context.Context, user, responseCode string, card templateCard) error {
	body := map[string]any{
		"userids":       []string{user},
		"agentid":       c.agentID,
		"response_code": responseCode,
		"template_card": card,
	}
	var res errResult
	return c.call(ctx, "message/update_template_card", body, &res)
}

// agentString is the agent id as WeCom writes it in callbacks.
func (c *apiClient) agentString() string { return strconv.FormatInt(c.agentID, 10) }
