package ilink

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeILink is a stand-in for the iLink server, written from the reference
// client's types and request code (src/api/api.ts, types.ts, login-qr.ts).
// It refuses what the real one would: requests without the headers the
// reference sends, a wrong or missing bot token, a reply without the
// context_token of an incoming message or to another user than the one
// that token belongs to, and a reply that is not a finished bot text
// message. Two servers share its state: qr is the configured base URL,
// where QR logins start; api is the base URL a confirmed login names.
type fakeILink struct {
	t       *testing.T
	qr, api *httptest.Server
	// hold is how long an idle long poll is held.
	hold time.Duration

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced on every change
	qrs     []*fakeQR
	byQR    map[string]*fakeQR
	qrLists [][]string // local_token_list of each get_bot_qrcode
	tokens  map[string]bool
	expired map[string]bool
	botID   string
	logins  int
	inbox   []fakeInbound
	ctxOf   map[string]string // context_token -> user
	nextID  uint64
	sent    []fakeSent
	typing  []fakeTyping
	tickets map[string]string // user -> typing ticket
	bufs    []string          // get_updates_buf of every poll, in order
	pollsBy map[string]int    // getupdates per token
	calls   map[string][]string
	refused []string
	// pollLimitMS is the longpolling_timeout_ms given with answers (0:
	// none); holdForever makes idle polls wait for the client to leave,
	// reporting it on gaveUp.
	pollLimitMS int64
	holdForever bool
	gaveUp      chan struct{}
	notices     []string
	// lateExpiry makes a held poll notice an expired token only when its
	// hold ends, as a server may; staleSends counts sendmessage calls
	// refused for a stale token.
	lateExpiry bool
	staleSends int
	// failSends and failPolls refuse that many next sendmessage and
	// getupdates calls with a non-zero ret, as a quota or an outage would.
	failSends, failPolls int
}

type fakeQR struct {
	code   string
	status string
	token  string
	// verify is the number the phone shows when status is
	// need_verifycode; polls carrying it move the code on to scanned.
	verify string
	// polls counts status polls per server.
	polls map[string]int
}

type fakeInbound struct {
	seq int
	msg map[string]any
}

// fakeSent is one accepted sendmessage.
type fakeSent struct {
	To, ContextToken, Text, ClientID, Token string
	MessageID                               string
}

type fakeTyping struct {
	User   string
	Status int
}

const fakeBotID = "b0f5860fdecb@im.bot"

func newFakeILink(t *testing.T) *fakeILink {
	f := &fakeILink{
		t:       t,
		hold:    150 * time.Millisecond,
		wake:    make(chan struct{}),
		byQR:    map[string]*fakeQR{},
		tokens:  map[string]bool{},
		expired: map[string]bool{},
		botID:   fakeBotID,
		ctxOf:   map[string]string{},
		nextID:  18446744073709550000, // above 2^53: float64 would round it
		tickets: map[string]string{},
		pollsBy: map[string]int{},
		calls:   map[string][]string{},
		gaveUp:  make(chan struct{}, 16),
	}
	f.qr = httptest.NewServer(f.handler("qr"))
	f.api = httptest.NewServer(f.handler("api"))
	t.Cleanup(func() {
		f.mu.Lock()
		close(f.wake)
		f.wake = make(chan struct{})
		f.mu.Unlock()
		f.qr.Close()
		f.api.Close()
	})
	return f
}

// changed wakes long polls; f.mu must be held.
func (f *fakeILink) changed() {
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *fakeILink) refuse(w http.ResponseWriter, status int, why string) {
	f.mu.Lock()
	f.refused = append(f.refused, why)
	f.mu.Unlock()
	http.Error(w, why, status)
}

// refuseRet answers HTTP 200 with a non-zero ret, as the server reports
// a request it understood but will not carry out.
func (f *fakeILink) refuseRet(w http.ResponseWriter, ret int, why string) {
	f.mu.Lock()
	f.refused = append(f.refused, why)
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ret": ret, "errcode": ret, "errmsg": why})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// headerProblem checks the headers every request carries, and those of
// POSTs (api.ts: buildCommonHeaders, buildHeaders).
func headerProblem(r *http.Request) string {
	if r.Header.Get("iLink-App-Id") != "bot" {
		return "missing or wrong iLink-App-Id"
	}
	v, err := strconv.ParseUint(r.Header.Get("iLink-App-ClientVersion"), 10, 32)
	if err != nil || v>>24 != 0 || v == 0 {
		return "missing or bad iLink-App-ClientVersion"
	}
	if r.Method != http.MethodPost {
		return ""
	}
	if r.Header.Get("Content-Type") != "application/json" {
		return "Content-Type is not application/json"
	}
	if r.Header.Get("AuthorizationType") != "ilink_bot_token" {
		return "missing AuthorizationType: ilink_bot_token"
	}
	uin, err := base64.StdEncoding.DecodeString(r.Header.Get("X-WECHAT-UIN"))
	if err != nil {
		return "X-WECHAT-UIN is not base64"
	}
	if _, err := strconv.ParseUint(string(uin), 10, 32); err != nil {
		return "X-WECHAT-UIN is not a decimal uint32"
	}
	return ""
}

func (f *fakeILink) handler(server string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/")
		f.mu.Lock()
		f.calls[server] = append(f.calls[server], path)
		f.mu.Unlock()
		if p := headerProblem(r); p != "" {
			f.refuse(w, http.StatusBadRequest, p)
			return
		}
		var body map[string]json.RawMessage
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil || json.Unmarshal(b, &body) != nil {
				f.refuse(w, http.StatusBadRequest, "body is not a JSON object")
				return
			}
		}
		switch path {
		case "ilink/bot/get_bot_qrcode":
			f.getQRCode(w, r, body)
			return
		case "ilink/bot/get_qrcode_status":
			f.qrStatus(w, r, server)
			return
		}
		if server != "api" {
			f.refuse(w, http.StatusNotFound, "bot call on the login host: "+path)
			return
		}
		if r.Method != http.MethodPost {
			f.refuse(w, http.StatusMethodNotAllowed, "bot calls are POSTs")
			return
		}
		if _, ok := body["base_info"]; !ok {
			f.refuse(w, http.StatusBadRequest, "no base_info")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		valid, stale := f.tokens[token], f.expired[token]
		f.mu.Unlock()
		switch {
		case !ok || token == "":
			f.refuse(w, http.StatusUnauthorized, "no bot token")
			return
		case stale:
			// A stale token: session-guard.ts STALE_TOKEN_ERRCODE.
			f.mu.Lock()
			switch path {
			case "ilink/bot/getupdates":
				f.pollsBy[token]++
			case "ilink/bot/sendmessage":
				f.staleSends++
			}
			f.mu.Unlock()
			writeJSON(w, map[string]any{"ret": -14, "errcode": -14, "errmsg": "session timeout"})
			return
		case !valid:
			f.refuse(w, http.StatusUnauthorized, "unknown bot token")
			return
		}
		switch path {
		case "ilink/bot/getupdates":
			f.getUpdates(w, r, token, body)
		case "ilink/bot/sendmessage":
			f.sendMessage(w, token, body)
		case "ilink/bot/getconfig":
			f.getConfig(w, body)
		case "ilink/bot/sendtyping":
			f.sendTyping(w, body)
		case "ilink/bot/msg/notifystart", "ilink/bot/msg/notifystop":
			f.mu.Lock()
			f.notices = append(f.notices, path)
			f.mu.Unlock()
			writeJSON(w, map[string]any{"ret": 0})
		default:
			f.refuse(w, http.StatusNotFound, "unknown endpoint "+path)
		}
	})
}

func (f *fakeILink) getQRCode(w http.ResponseWriter, r *http.Request, body map[string]json.RawMessage) {
	if r.Method != http.MethodPost || r.URL.Query().Get("bot_type") != "3" {
		f.refuse(w, http.StatusBadRequest, "get_bot_qrcode is a POST with bot_type=3")
		return
	}
	var list []string
	if err := json.Unmarshal(body["local_token_list"], &list); err != nil || list == nil {
		f.refuse(w, http.StatusBadRequest, "no local_token_list")
		return
	}
	f.mu.Lock()
	q := &fakeQR{code: fmt.Sprintf("qr%03d", len(f.qrs)+1), status: qrWait, polls: map[string]int{}}
	f.qrs = append(f.qrs, q)
	f.byQR[q.code] = q
	f.qrLists = append(f.qrLists, list)
	f.changed()
	f.mu.Unlock()
	writeJSON(w, map[string]any{"qrcode": q.code, "qrcode_img_content": "https://liteapp.weixin.qq.com/q/" + q.code + "?bot_type=3"})
}

func (f *fakeILink) qrStatus(w http.ResponseWriter, r *http.Request, server string) {
	if r.Method != http.MethodGet {
		f.refuse(w, http.StatusMethodNotAllowed, "get_qrcode_status is a GET")
		return
	}
	code := r.URL.Query().Get("qrcode")
	f.mu.Lock()
	q := f.byQR[code]
	if q == nil {
		f.mu.Unlock()
		f.refuse(w, http.StatusBadRequest, "unknown qrcode")
		return
	}
	q.polls[server]++
	if q.status == qrNeedVerifyCode && q.verify != "" && r.URL.Query().Get("verify_code") == q.verify {
		q.status = qrScanned
	}
	status, wake := q.status, f.wake
	f.mu.Unlock()
	if status == qrWait {
		select { // a long poll: held until something happens
		case <-wake:
		case <-time.After(f.hold):
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	resp := map[string]any{"status": q.status}
	if q.status == qrRedirect {
		resp["redirect_host"] = strings.TrimPrefix(f.api.URL, "http://")
	}
	if q.status == qrConfirmed {
		resp["bot_token"] = q.token
		resp["ilink_bot_id"] = f.botID
		resp["baseurl"] = f.api.URL
		resp["ilink_user_id"] = "owner@im.wechat"
	}
	f.mu.Unlock()
	writeJSON(w, resp)
}

// cursor reads a get_updates_buf: the last sequence number delivered.
func cursor(buf string) (int, bool) {
	if buf == "" {
		return 0, true
	}
	b, err := base64.StdEncoding.DecodeString(buf)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "seq:"))
	return n, err == nil
}

func makeCursor(n int) string {
	return base64.StdEncoding.EncodeToString([]byte("seq:" + strconv.Itoa(n)))
}

func (f *fakeILink) getUpdates(w http.ResponseWriter, r *http.Request, token string, body map[string]json.RawMessage) {
	var buf string
	if err := json.Unmarshal(body["get_updates_buf"], &buf); err != nil {
		f.refuse(w, http.StatusBadRequest, "no get_updates_buf")
		return
	}
	from, ok := cursor(buf)
	if !ok {
		f.refuseRet(w, -1, "bad get_updates_buf")
		return
	}
	f.mu.Lock()
	if f.failPolls > 0 {
		f.failPolls--
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ret": -1, "errmsg": "system busy"})
		return
	}
	f.bufs = append(f.bufs, buf)
	f.pollsBy[token]++
	f.mu.Unlock()
	deadline := time.After(f.hold)
	for {
		f.mu.Lock()
		if f.expired[token] && !f.lateExpiry {
			f.mu.Unlock()
			writeJSON(w, map[string]any{"ret": -14, "errcode": -14, "errmsg": "session timeout"})
			return
		}
		var msgs []map[string]any
		last := from
		for _, in := range f.inbox {
			if in.seq > from {
				msgs = append(msgs, in.msg)
				last = in.seq
			}
		}
		wake, forever, limit := f.wake, f.holdForever, f.pollLimitMS
		f.mu.Unlock()
		if len(msgs) > 0 {
			resp := map[string]any{"ret": 0, "msgs": msgs, "get_updates_buf": makeCursor(last)}
			if limit > 0 {
				resp["longpolling_timeout_ms"] = limit
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(bigIDs(resp))
			return
		}
		if forever {
			select {
			case <-wake:
				continue
			case <-r.Context().Done():
				f.gaveUp <- struct{}{}
				return
			}
		}
		select {
		case <-wake:
			continue
		case <-r.Context().Done():
			return
		case <-deadline:
		}
		resp := map[string]any{"ret": 0, "msgs": []any{}, "get_updates_buf": makeCursor(from)}
		if limit > 0 {
			resp["longpolling_timeout_ms"] = limit
		}
		writeJSON(w, resp)
		return
	}
}

// bigID marks a uint64 id that must go on the wire as a bare number.
type bigID uint64

func (b bigID) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatUint(uint64(b), 10)), nil }

// bigIDs encodes v; bigID values come out as bare JSON numbers.
func bigIDs(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// inboundMessage is a WeixinMessage from user with items; it gets a
// fresh context token.
func (f *fakeILink) push(user string, items ...map[string]any) (msgID uint64, contextToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	seq := len(f.inbox) + 1
	contextToken = fmt.Sprintf("ctx-%s-%d", strings.SplitN(user, "@", 2)[0], seq)
	f.ctxOf[contextToken] = user
	for i := range items {
		items[i]["msg_id"] = bigID(f.nextID)
	}
	f.inbox = append(f.inbox, fakeInbound{seq: seq, msg: map[string]any{
		"seq":            seq,
		"message_id":     bigID(f.nextID),
		"from_user_id":   user,
		"to_user_id":     f.botID,
		"client_id":      fmt.Sprintf("phone-%d", seq),
		"create_time_ms": time.Now().UnixMilli(),
		"session_id":     "s-" + user,
		"message_type":   messageTypeUser,
		"message_state":  messageStateFinish,
		"item_list":      items,
		"context_token":  contextToken,
	}})
	f.changed()
	return f.nextID, contextToken
}

func textIt(s string) map[string]any {
	return map[string]any{"type": itemText, "text_item": map[string]any{"text": s}}
}

// says queues a text message from user.
func (f *fakeILink) says(user, text string) { f.push(user, textIt(text)) }

// quotes queues a quote-reply: text, quoting ref (a RefMessage).
func (f *fakeILink) quotes(user, text string, ref map[string]any) {
	it := textIt(text)
	it["ref_msg"] = ref
	f.push(user, it)
}

func (f *fakeILink) sendMessage(w http.ResponseWriter, token string, body map[string]json.RawMessage) {
	var msg struct {
		FromUserID   string `json:"from_user_id"`
		ToUserID     string `json:"to_user_id"`
		ClientID     string `json:"client_id"`
		MessageType  int    `json:"message_type"`
		MessageState int    `json:"message_state"`
		ContextToken string `json:"context_token"`
		ItemList     []struct {
			Type     int `json:"type"`
			TextItem *struct {
				Text string `json:"text"`
			} `json:"text_item"`
		} `json:"item_list"`
	}
	if err := json.Unmarshal(body["msg"], &msg); err != nil {
		f.refuse(w, http.StatusBadRequest, "no msg")
		return
	}
	f.mu.Lock()
	owner, known := f.ctxOf[msg.ContextToken]
	f.mu.Unlock()
	switch {
	case msg.ContextToken == "":
		f.refuseRet(w, -1, "sendmessage without context_token")
		return
	case !known:
		f.refuseRet(w, -1, "sendmessage with an unknown context_token")
		return
	case msg.ToUserID != owner:
		f.refuseRet(w, -1, "sendmessage to another user than the context_token's")
		return
	case msg.MessageType != messageTypeBot || msg.MessageState != messageStateFinish:
		f.refuseRet(w, -1, "sendmessage that is not a finished bot message")
		return
	case msg.ClientID == "":
		f.refuseRet(w, -1, "sendmessage without client_id")
		return
	case len(msg.ItemList) != 1 || msg.ItemList[0].Type != itemText || msg.ItemList[0].TextItem == nil || strings.TrimSpace(msg.ItemList[0].TextItem.Text) == "":
		f.refuseRet(w, -1, "sendmessage without one text item")
		return
	case utf8.RuneCountInString(msg.ItemList[0].TextItem.Text) > 4000:
		f.refuseRet(w, -1, "text longer than 4000 characters")
		return
	}
	f.mu.Lock()
	if f.failSends > 0 {
		f.failSends--
		f.mu.Unlock()
		writeJSON(w, map[string]any{"ret": -2, "errmsg": "frequency limit"})
		return
	}
	for _, s := range f.sent {
		if s.ClientID == msg.ClientID {
			f.mu.Unlock()
			f.refuseRet(w, -1, "client_id used twice")
			return
		}
	}
	f.nextID++
	id := f.nextID
	f.sent = append(f.sent, fakeSent{To: msg.ToUserID, ContextToken: msg.ContextToken, Text: msg.ItemList[0].TextItem.Text, ClientID: msg.ClientID, Token: token, MessageID: strconv.FormatUint(id, 10)})
	f.changed()
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(bigIDs(map[string]any{"ret": 0, "message_id": bigID(id)}))
}

func (f *fakeILink) getConfig(w http.ResponseWriter, body map[string]json.RawMessage) {
	var user string
	if err := json.Unmarshal(body["ilink_user_id"], &user); err != nil || user == "" {
		f.refuseRet(w, -1, "getconfig without ilink_user_id")
		return
	}
	ticket := base64.StdEncoding.EncodeToString([]byte("typing:" + user))
	f.mu.Lock()
	f.tickets[user] = ticket
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ret": 0, "typing_ticket": ticket})
}

func (f *fakeILink) sendTyping(w http.ResponseWriter, body map[string]json.RawMessage) {
	var req struct {
		User   string `json:"ilink_user_id"`
		Ticket string `json:"typing_ticket"`
		Status int    `json:"status"`
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil {
		f.refuseRet(w, -1, "bad sendtyping")
		return
	}
	f.mu.Lock()
	want := f.tickets[req.User]
	f.mu.Unlock()
	if want == "" || req.Ticket != want || (req.Status != typingOn && req.Status != typingCancel) {
		f.refuseRet(w, -1, "sendtyping with a wrong ticket or status")
		return
	}
	f.mu.Lock()
	f.typing = append(f.typing, fakeTyping{User: req.User, Status: req.Status})
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ret": 0})
}

// --- the phone's side of a QR login ---

// waitQR waits for the n-th QR code (1-based) and returns it.
func (f *fakeILink) waitQR(t *testing.T, n int) string {
	t.Helper()
	var code string
	waitFor(t, fmt.Sprintf("QR code #%d", n), 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.qrs) >= n {
			code = f.qrs[n-1].code
			return true
		}
		return false
	})
	return code
}

// setQR sets a QR code's status; "confirmed" issues a new bot token.
func (f *fakeILink) setQR(code, status string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.byQR[code]
	q.status = status
	if status == qrConfirmed {
		f.logins++
		q.token = fmt.Sprintf("tok-%d-%s@bot", f.logins, strings.Repeat("x", 8))
		f.tokens[q.token] = true
	}
	f.changed()
	return q.token
}

// expireTokens makes every issued token stale.
func (f *fakeILink) expireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok := range f.tokens {
		f.expired[tok] = true
		delete(f.tokens, tok)
	}
	f.changed()
}

// waitSent waits until at least from+n messages were accepted and returns
// those after the first from.
func (f *fakeILink) waitSent(t *testing.T, from, n int) []fakeSent {
	t.Helper()
	var out []fakeSent
	waitFor(t, fmt.Sprintf("%d sent messages after %d", n, from), 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.sent) >= from+n {
			out = append([]fakeSent(nil), f.sent[from:]...)
			return true
		}
		return false
	})
	return out
}

func (f *fakeILink) sentCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func (f *fakeILink) refusals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refused...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
