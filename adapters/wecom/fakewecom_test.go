package wecom

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Test credentials of the fake enterprise. The token and key are the ones
// of WeCom's documentation; the corp id and secret are made up.
const (
	fakeCorpID  = "ww1234567890abcdef"
	fakeSecret  = "fake-app-secret"
	fakeAgentID = 1000002
	// wecomTextLimit is the documented limit of a text message's content:
	// "最长不超过2048个字节，超过将截断".
	wecomTextLimit = 2048
)

// sentMsg is one message/send call the fake received.
type sentMsg struct {
	ToUser  string                    `json:"touser"`
	MsgType string                    `json:"msgtype"`
	AgentID int64                     `json:"agentid"`
	Text    *struct{ Content string } `json:"text"`
	Card    *templateCard             `json:"template_card"`
	MsgID   string                    `json:"-"`
}

// cardUpdate is one message/update_template_card call.
type cardUpdate struct {
	UserIDs      []string     `json:"userids"`
	AgentID      int64        `json:"agentid"`
	ResponseCode string       `json:"response_code"`
	Card         templateCard `json:"template_card"`
}

// fakeWeCom stands in for qyapi.weixin.qq.com on loopback: gettoken,
// message/send and message/update_template_card with WeCom's JSON and
// errcodes, and it signs and encrypts callbacks exactly as WeCom does.
type fakeWeCom struct {
	t     *testing.T
	srv   *httptest.Server
	crypt *msgCrypt

	mu         sync.Mutex
	token      string
	tokens     int // gettoken calls
	expiresIn  int
	expired    int // message/send calls answered 42001
	sent       []sentMsg
	updates    []cardUpdate
	codes      map[string]bool // response codes issued and not yet used
	nextMsg    int
	badUpdates []string
}

func newFakeWeCom(t *testing.T) *fakeWeCom {
	key, err := decodeAESKey(docAESKey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeWeCom{t: t, crypt: &msgCrypt{token: docToken, key: key, receiver: fakeCorpID}, expiresIn: 7200, codes: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/gettoken", f.getToken)
	mux.HandleFunc("POST /cgi-bin/message/send", f.send)
	mux.HandleFunc("POST /cgi-bin/message/update_template_card", f.update)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeWeCom) getToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("corpid") != fakeCorpID || q.Get("corpsecret") != fakeSecret {
		writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens++
	f.token = fmt.Sprintf("token-%d", f.tokens)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": f.token, "expires_in": f.expiresIn})
}

// authorized checks the access token as WeCom does: a stale one is
// "expired" (42001), an unknown one invalid (40014).
func (f *fakeWeCom) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok := r.URL.Query().Get("access_token")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case tok == "":
		writeJSON(w, map[string]any{"errcode": 41001, "errmsg": "access_token missing"})
	case tok == f.token:
		return true
	case strings.HasPrefix(tok, "token-"):
		f.expired++
		writeJSON(w, map[string]any{"errcode": 42001, "errmsg": "access_token expired"})
	default:
		writeJSON(w, map[string]any{"errcode": 40014, "errmsg": "invalid access_token"})
	}
	return false
}

// expireToken makes the current access token expire on WeCom's side.
func (f *fakeWeCom) expireToken() {
	f.mu.Lock()
	f.token = "revoked"
	f.mu.Unlock()
}

func (f *fakeWeCom) send(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var m sentMsg
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		writeJSON(w, map[string]any{"errcode": 47001, "errmsg": "data format error"})
		return
	}
	switch {
	case m.AgentID != fakeAgentID:
		writeJSON(w, map[string]any{"errcode": 40056, "errmsg": "invalid agentid"})
		return
	case m.MsgType == "text" && (m.Text == nil || m.Text.Content == ""):
		writeJSON(w, map[string]any{"errcode": 41008, "errmsg": "missing content"})
		return
	case m.MsgType == "text" && (len(m.Text.Content) > wecomTextLimit || !utf8.ValidString(m.Text.Content)):
		// WeCom truncates silently: the test fails instead.
		f.t.Errorf("a text message of %d bytes (limit %d)", len(m.Text.Content), wecomTextLimit)
	case m.MsgType == "template_card" && (m.Card == nil || m.Card.CardType != "button_interaction" || len(m.Card.ButtonList) == 0 || len(m.Card.TaskID) > 128):
		writeJSON(w, map[string]any{"errcode": 40058, "errmsg": "invalid template_card"})
		return
	case m.MsgType != "text" && m.MsgType != "template_card":
		writeJSON(w, map[string]any{"errcode": 40008, "errmsg": "invalid message type"})
		return
	}
	f.mu.Lock()
	f.nextMsg++
	m.MsgID = fmt.Sprintf("msg%04d", f.nextMsg)
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	res := map[string]any{"errcode": 0, "errmsg": "ok", "msgid": m.MsgID}
	if m.MsgType == "template_card" {
		res["response_code"] = "send-" + m.MsgID
	}
	writeJSON(w, res)
}

func (f *fakeWeCom) update(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var u cardUpdate
	if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
		writeJSON(w, map[string]any{"errcode": 47001, "errmsg": "data format error"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.codes[u.ResponseCode] || u.AgentID != fakeAgentID {
		f.badUpdates = append(f.badUpdates, u.ResponseCode)
		writeJSON(w, map[string]any{"errcode": 40135, "errmsg": "invalid response_code"})
		return
	}
	delete(f.codes, u.ResponseCode) // a response code works once
	f.updates = append(f.updates, u)
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "invaliduser": []string{}})
}

func (f *fakeWeCom) sentFrom(i int) []sentMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMsg(nil), f.sent[min(i, len(f.sent)):]...)
}

func (f *fakeWeCom) sentCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// waitSent waits until at least n messages were sent after the first
// from, and returns them.
func (f *fakeWeCom) waitSent(t *testing.T, from, n int) []sentMsg {
	t.Helper()
	var got []sentMsg
	waitFor(t, fmt.Sprintf("%d sent messages", n), func() bool {
		got = f.sentFrom(from)
		return len(got) >= n
	})
	return got
}

// callback is one signed and encrypted request as WeCom sends it.
type callback struct {
	sig, ts, nonce, encrypt string
}

// seal encrypts and signs plain as WeCom does at time at.
func (f *fakeWeCom) seal(plain string, at time.Time) callback {
	return sealWith(f.t, f.crypt, plain, at)
}

// sealWith encrypts and signs plain with mc at time at.
func sealWith(t *testing.T, mc *msgCrypt, plain string, at time.Time) callback {
	enc, err := mc.encrypt([]byte(plain), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := callback{ts: strconv.FormatInt(at.Unix(), 10), nonce: randomNonce(), encrypt: enc}
	c.sig = signature(mc.token, c.ts, c.nonce, c.encrypt)
	return c
}

func randomNonce() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return strconv.FormatUint(uint64(b[0])<<32|uint64(b[1])<<24|uint64(b[2])<<16|uint64(b[3])<<8|uint64(b[4]), 10)
}

func (c callback) query() string {
	return url.Values{"msg_signature": {c.sig}, "timestamp": {c.ts}, "nonce": {c.nonce}}.Encode()
}

// post delivers c to the adapter's callback URL, returning the status
// and body.
func (f *fakeWeCom) post(t *testing.T, target string, c callback) (int, string) {
	t.Helper()
	body := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><AgentID><![CDATA[%d]]></AgentID><Encrypt><![CDATA[%s]]></Encrypt></xml>", fakeCorpID, fakeAgentID, c.encrypt)
	resp, err := http.Post(target+"?"+c.query(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verifyURL does WeCom's URL verification GET.
func (f *fakeWeCom) verifyURL(t *testing.T, target, echo string) (int, string) {
	t.Helper()
	c := f.seal(echo, time.Now())
	resp, err := http.Get(target + "?" + c.query() + "&" + url.Values{"echostr": {c.encrypt}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// textXML is a member's text message to the application.
func textXML(user, content string, msgID int) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId><AgentID>%d</AgentID></xml>",
		fakeCorpID, user, time.Now().Unix(), content, msgID, fakeAgentID)
}

// buttonXML is a template_card_event for a press of key; the response
// code it carries is registered with the fake for one update.
func (f *fakeWeCom) buttonXML(user, key, taskID string) (string, string) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	code := "rc-" + hex.EncodeToString(b)
	f.mu.Lock()
	f.codes[code] = true
	f.mu.Unlock()
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[%s]]></EventKey><TaskId><![CDATA[%s]]></TaskId><CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[%s]]></ResponseCode><AgentID>%d</AgentID></xml>",
		fakeCorpID, user, time.Now().Unix(), key, taskID, code, fakeAgentID), code
}

func (f *fakeWeCom) waitUpdate(t *testing.T, code string) cardUpdate {
	t.Helper()
	var u cardUpdate
	waitFor(t, "the card update "+code, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, x := range f.updates {
			if x.ResponseCode == code {
				u = x
				return true
			}
		}
		return false
	})
	return u
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listen opens a loopback listener for the adapter.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}
