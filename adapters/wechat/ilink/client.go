package ilink

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// What chatloop tells the server about itself. The app id and client
// version are those of the reference client whose protocol this package
// speaks (package.json: ilink_appid "bot", version 2.4.9); bot_agent is
// the self-declared, User-Agent-like identity, for the server's logs only.
const (
	appID           = "bot"
	protocolVersion = "2.4.9"
	botAgent        = "chatloop/0.1"
	// botType is the bot_type of the QR login (DEFAULT_ILINK_BOT_TYPE).
	botType = "3"
)

// Timeouts of the reference client (api.ts, login-qr.ts).
const (
	defaultLongPoll = 35 * time.Second
	apiTimeout      = 15 * time.Second
	configTimeout   = 10 * time.Second
	qrPollTimeout   = 35 * time.Second
	// maxBody bounds what is read of any answer.
	maxBody = 8 << 20
)

// ErrSessionExpired is wrapped by calls the server refused because the bot
// token is stale (ret or errcode -14): a new QR login is needed.
var ErrSessionExpired = errors.New("ilink: session expired (errcode -14)")

// apiError is a call the server answered with an error.
type apiError struct {
	call    string
	status  int // HTTP status, 0 when the HTTP exchange succeeded
	ret     int
	errcode int
	errmsg  string
}

func (e *apiError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("ilink %s: HTTP %d: %s", e.call, e.status, e.errmsg)
	}
	return fmt.Sprintf("ilink %s: ret %d errcode %d: %s", e.call, e.ret, e.errcode, e.errmsg)
}

// Is makes errors.Is(err, ErrSessionExpired) true for a stale token.
func (e *apiError) Is(target error) bool {
	return target == ErrSessionExpired && (e.ret == errcodeSessionExpired || e.errcode == errcodeSessionExpired)
}

// checkResult turns a non-zero ret or errcode into an error.
func checkResult(call string, ret, errcode int, errmsg string) error {
	if ret == 0 && errcode == 0 {
		return nil
	}
	return &apiError{call: call, ret: ret, errcode: errcode, errmsg: truncate(errmsg, 200)}
}

// clientVersion encodes a version "M.N.P" as the uint32 0x00MMNNPP the
// iLink-App-ClientVersion header carries.
func clientVersion(v string) uint32 {
	var out uint32
	parts := strings.SplitN(v, ".", 3)
	for i := range 3 {
		n := 0
		if i < len(parts) {
			n, _ = strconv.Atoi(parts[i])
		}
		out |= uint32(n&0xff) << (16 - 8*i)
	}
	return out
}

// randomUIN is the X-WECHAT-UIN header: a random uint32 written in decimal,
// then base64.
func randomUIN() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)))
}

// api makes the iLink HTTP calls.
type api struct {
	http *http.Client
}

// endpoint joins a base URL and an endpoint path (with its query).
func endpoint(base, path string) (string, error) {
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("ilink base URL: %w", err)
	}
	ref, err := url.Parse(path)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(ref).String(), nil
}

// commonHeaders are sent with every request.
func commonHeaders(h http.Header) {
	h.Set("iLink-App-Id", appID)
	h.Set("iLink-App-ClientVersion", strconv.FormatUint(uint64(clientVersion(protocolVersion)), 10))
}

// post sends body as JSON to base/path with the bot token (when not
// empty) and decodes the answer into out.
func (c *api) post(ctx context.Context, call, base, path, token string, body any, timeout time.Duration, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("ilink %s: %w", call, err)
	}
	u, err := endpoint(base, path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("ilink %s: %w", call, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("AuthorizationType", "ilink_bot_token")
	req.Header.Set("X-WECHAT-UIN", randomUIN())
	commonHeaders(req.Header)
	if t := strings.TrimSpace(token); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	return c.do(req, call, out)
}

// get fetches base/path and decodes the answer into out.
func (c *api) get(ctx context.Context, call, base, path string, timeout time.Duration, out any) error {
	u, err := endpoint(base, path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("ilink %s: %w", call, err)
	}
	commonHeaders(req.Header)
	return c.do(req, call, out)
}

func (c *api) do(req *http.Request, call string, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		// The URL holds the QR code of a login: leave it out.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("ilink %s: %w", call, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("ilink %s: reading the answer: %w", call, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("ilink %s: answer larger than %d bytes", call, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{call: call, status: resp.StatusCode, errmsg: truncate(strings.TrimSpace(string(body)), 200)}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("ilink %s: bad answer: %w", call, err)
	}
	return nil
}

// base is the base_info of every request.
func base() baseInfo { return baseInfo{ChannelVersion: protocolVersion, BotAgent: botAgent} }

// getUpdates long-polls for messages. A poll that the server holds past
// timeout returns an empty answer with the same buf, as the reference does.
func (c *api) getUpdates(ctx context.Context, acct account, buf string, timeout time.Duration) (getUpdatesResp, error) {
	var resp getUpdatesResp
	err := c.post(ctx, "getupdates", acct.BaseURL, "ilink/bot/getupdates", acct.Token,
		getUpdatesReq{GetUpdatesBuf: buf, BaseInfo: base()}, timeout, &resp)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return getUpdatesResp{GetUpdatesBuf: buf}, nil
		}
		return getUpdatesResp{}, err
	}
	return resp, checkResult("getupdates", resp.Ret, resp.Errcode, resp.Errmsg)
}

// sendText sends one finished text message to a user, in the conversation
// of contextToken, and returns the server's message id ("" if none).
func (c *api) sendText(ctx context.Context, acct account, to, contextToken, clientID, text string) (wireID, error) {
	msg := weixinMessage{
		ToUserID:     to,
		ClientID:     clientID,
		MessageType:  messageTypeBot,
		MessageState: messageStateFinish,
		ItemList:     []messageItem{{Type: itemText, TextItem: &textItem{Text: text}}},
		ContextToken: contextToken,
	}
	var resp sendMessageResp
	if err := c.post(ctx, "sendmessage", acct.BaseURL, "ilink/bot/sendmessage", acct.Token,
		sendMessageReq{Msg: msg, BaseInfo: base()}, apiTimeout, &resp); err != nil {
		return "", err
	}
	return resp.MessageID, checkResult("sendmessage", resp.Ret, resp.Errcode, resp.Errmsg)
}

// typingTicket asks for the ticket that typing indicators to user need.
func (c *api) typingTicket(ctx context.Context, acct account, user, contextToken string) (string, error) {
	var resp getConfigResp
	if err := c.post(ctx, "getconfig", acct.BaseURL, "ilink/bot/getconfig", acct.Token,
		getConfigReq{ILinkUserID: user, ContextToken: contextToken, BaseInfo: base()}, configTimeout, &resp); err != nil {
		return "", err
	}
	return resp.TypingTicket, checkResult("getconfig", resp.Ret, resp.Errcode, resp.Errmsg)
}

// sendTyping shows (typingOn) or hides (typingCancel) the typing indicator.
func (c *api) sendTyping(ctx context.Context, acct account, user, ticket string, status int) error {
	var resp plainResp
	if err := c.post(ctx, "sendtyping", acct.BaseURL, "ilink/bot/sendtyping", acct.Token,
		sendTypingReq{ILinkUserID: user, TypingTicket: ticket, Status: status, BaseInfo: base()}, configTimeout, &resp); err != nil {
		return err
	}
	return checkResult("sendtyping", resp.Ret, resp.Errcode, resp.Errmsg)
}

// notify tells the server that the client starts or stops ("notifystart",
// "notifystop").
func (c *api) notify(ctx context.Context, acct account, which string) error {
	var resp plainResp
	if err := c.post(ctx, which, acct.BaseURL, "ilink/bot/msg/"+which, acct.Token,
		struct {
			BaseInfo baseInfo `json:"base_info"`
		}{base()}, configTimeout, &resp); err != nil {
		return err
	}
	return checkResult(which, resp.Ret, resp.Errcode, resp.Errmsg)
}

// qrCode asks for a new login QR code. tokens are the bot tokens this
// client held before (local_token_list), newest first.
func (c *api) qrCode(ctx context.Context, baseURL string, tokens []string) (qrCodeResp, error) {
	if tokens == nil {
		tokens = []string{}
	}
	var resp qrCodeResp
	err := c.post(ctx, "get_bot_qrcode", baseURL, "ilink/bot/get_bot_qrcode?bot_type="+url.QueryEscape(botType), "",
		struct {
			LocalTokenList []string `json:"local_token_list"`
		}{tokens}, apiTimeout, &resp)
	if err != nil {
		return qrCodeResp{}, err
	}
	if resp.QRCode == "" || resp.QRCodeImgContent == "" {
		return qrCodeResp{}, errors.New("ilink get_bot_qrcode: the answer has no QR code")
	}
	return resp, nil
}

// qrStatus long-polls the state of a login QR code. A poll the server
// holds past the timeout reads as "wait".
func (c *api) qrStatus(ctx context.Context, baseURL, qrcode, verifyCode string) (qrStatusResp, error) {
	path := "ilink/bot/get_qrcode_status?qrcode=" + url.QueryEscape(qrcode)
	if verifyCode != "" {
		path += "&verify_code=" + url.QueryEscape(verifyCode)
	}
	var resp qrStatusResp
	if err := c.get(ctx, "get_qrcode_status", baseURL, path, qrPollTimeout, &resp); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return qrStatusResp{Status: qrWait}, nil
		}
		return qrStatusResp{}, err
	}
	return resp, nil
}
