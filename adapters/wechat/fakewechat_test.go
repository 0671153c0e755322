package wechat

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeWeChat is a web-WeChat server on loopback that speaks the protocol
// openwechat (desktop mode) uses: jslogin for the login uuid, the QR code
// image, login polling (scanned, then confirmed with a redirect),
// webwxnewloginpage, webwxinit, webwxstatusnotify, webwxgetcontact,
// webwxbatchgetcontact, synccheck long polling, webwxsync and
// webwxsendmsg. It serves HTTPS with a certificate for the WeChat host
// names; the test client's transport dials every *.qq.com host to it.
type fakeWeChat struct {
	t    *testing.T
	srv  *httptest.Server
	pool *x509.CertPool
	poll time.Duration // longest long poll

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on every change
	uuids    []string
	logins   map[string]*fakeLogin
	sessions int
	sess     *fakeSession // the live session, nil when none
	old      []*fakeSession
	syncKey  int64
	pending  []fakeMsg
	sent     []fakeSent
	counts   map[string]int
	nextID   int64
	rejected []string // why requests were refused, for failure messages
	blips    int      // sync checks still to answer 1101 with a valid session
	garbled  int      // sync checks still to answer with garbage

	self    fakeUser
	friends []fakeUser
	groups  []fakeGroup
}

type fakeLogin struct {
	state    int // 0 waiting, 1 scanned, 2 confirmed, 3 expired
	reported int // the last state a poll reported
	ticket   string
}

type fakeSession struct {
	sid, skey, pass, ticket string
	uin                     int64
	valid                   bool
}

type fakeUser struct {
	UserName    string
	NickName    string
	RemarkName  string `json:",omitempty"`
	DisplayName string `json:",omitempty"`
	VerifyFlag  int
}

type fakeGroup struct {
	fakeUser
	Members []fakeUser
}

// fakeMsg is a message as webwxsync delivers it in AddMsgList.
type fakeMsg struct {
	MsgId        string
	NewMsgId     int64
	FromUserName string
	ToUserName   string
	MsgType      int
	AppMsgType   int
	Content      string
	FileName     string
	Url          string
	CreateTime   int64
	StatusNotify int `json:"StatusNotifyCode"`
}

// fakeSent is a message the bot sent through webwxsendmsg.
type fakeSent struct {
	MsgID   string
	From    string
	To      string
	Content string
	At      time.Time
}

func newFakeWeChat(t *testing.T) *fakeWeChat {
	t.Helper()
	f := &fakeWeChat{
		t:      t,
		poll:   300 * time.Millisecond,
		wake:   make(chan struct{}),
		logins: map[string]*fakeLogin{},
		counts: map[string]int{},
		nextID: 5000,
		self:   fakeUser{UserName: "@self0001", NickName: "LoopBot"},
	}
	f.friends = []fakeUser{
		{UserName: "@alice01", NickName: "Alice", RemarkName: "alice-remark"},
		{UserName: "@carol01", NickName: "Carol"},
		{UserName: "@mp01", NickName: "Daily News", VerifyFlag: 24},
	}
	f.groups = []fakeGroup{{
		fakeUser: fakeUser{UserName: "@@group01", NickName: "Test Group"},
		Members: []fakeUser{
			{UserName: "@self0001", NickName: "LoopBot", DisplayName: "小助手"},
			{UserName: "@alice01", NickName: "Alice"},
			{UserName: "@bob01", NickName: "Bob", DisplayName: "Bobby"},
			{UserName: "@dave01", NickName: "Dave"},
			{UserName: "@erin01", NickName: "Erin"},
			{UserName: "@frank01", NickName: "Frank"},
		},
	}}

	cert, pool := fakeCertificate(t)
	f.pool = pool
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // connections cut by cancelled long polls
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// fakeCertificate makes a self-signed certificate for WeChat's host names.
func fakeCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake wx.qq.com"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"wx.qq.com", "*.wx.qq.com", "login.weixin.qq.com"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// client is the *http.Client openwechat is built with: its transport
// sends every *.qq.com connection to the fake server and trusts only the
// fake's certificate. Nothing else can be dialled.
func (f *fakeWeChat) client() *http.Client {
	addr := f.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			if host != "qq.com" && !strings.HasSuffix(host, ".qq.com") {
				return nil, fmt.Errorf("test transport: refusing to dial %s", address)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: f.pool},
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
}

// changed wakes every long poll. f.mu must be held.
func (f *fakeWeChat) changed() {
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *fakeWeChat) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[name]
}

func (f *fakeWeChat) reject(format string, args ...any) {
	f.rejected = append(f.rejected, fmt.Sprintf(format, args...))
}

func (f *fakeWeChat) serve(w http.ResponseWriter, r *http.Request) {
	host, path := r.Host, r.URL.Path
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	name := host + path
	f.mu.Lock()
	f.counts[path[strings.LastIndex(path, "/")+1:]]++
	f.mu.Unlock()
	const cgi = "/cgi-bin/mmwebwx-bin/"
	switch {
	case host == "login.wx.qq.com" && path == "/jslogin":
		f.jslogin(w, r)
	case host == "login.weixin.qq.com" && strings.HasPrefix(path, "/qrcode/"):
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write([]byte("not a real image"))
	case host == "login.wx.qq.com" && path == cgi+"login":
		f.checkLogin(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxnewloginpage":
		f.newLoginPage(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxinit":
		f.webInit(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxstatusnotify":
		f.statusNotify(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxgetcontact":
		f.getContact(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxbatchgetcontact":
		f.batchGetContact(w, r)
	case host == "webpush.wx.qq.com" && path == cgi+"synccheck":
		f.syncCheck(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxsync":
		f.webSync(w, r)
	case host == "wx.qq.com" && path == cgi+"webwxsendmsg":
		f.sendMsg(w, r)
	default:
		f.mu.Lock()
		f.reject("unexpected request %s %s", r.Method, name)
		f.mu.Unlock()
		http.NotFound(w, r)
	}
}

func (f *fakeWeChat) jslogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, _ := url.Parse(q.Get("redirect_uri"))
	if q.Get("appid") != "wx782c26e4c19acffb" || redirect == nil || redirect.Query().Get("mod") != "desktop" {
		f.mu.Lock()
		f.reject("jslogin without the desktop appid/redirect: %s", r.URL.RawQuery)
		f.mu.Unlock()
		_, _ = fmt.Fprint(w, `window.QRLogin.code = 400;`)
		return
	}
	f.mu.Lock()
	uuid := fmt.Sprintf("uuid-%d==", len(f.uuids)+1)
	f.uuids = append(f.uuids, uuid)
	f.logins[uuid] = &fakeLogin{reported: -1}
	f.changed()
	f.mu.Unlock()
	_, _ = fmt.Fprintf(w, `window.QRLogin.code = 200; window.QRLogin.uuid = "%s";`, uuid)
}

// checkLogin long-polls a login: 408 while waiting, 201 once scanned, 200
// with the redirect once confirmed, 400 when the QR code expired.
func (f *fakeWeChat) checkLogin(w http.ResponseWriter, r *http.Request) {
	uuid := r.URL.Query().Get("uuid")
	deadline := time.After(f.poll)
	for {
		f.mu.Lock()
		l := f.logins[uuid]
		if l == nil {
			f.reject("login poll for unknown uuid %q", uuid)
			f.mu.Unlock()
			_, _ = fmt.Fprint(w, `window.code=400;`)
			return
		}
		if l.state != l.reported {
			l.reported = l.state
			st := l.state
			ticket := l.ticket
			f.mu.Unlock()
			switch st {
			case 1:
				_, _ = fmt.Fprint(w, `window.code=201;window.userAvatar = 'data:img/jpg;base64,AAAA';`)
				return
			case 2:
				_, _ = fmt.Fprintf(w, "window.code=200;\nwindow.redirect_uri=\"https://wx.qq.com/cgi-bin/mmwebwx-bin/webwxnewloginpage?ticket=%s&uuid=%s&lang=zh_CN&scan=1700000000\";", ticket, url.QueryEscape(uuid))
				return
			case 3:
				_, _ = fmt.Fprint(w, `window.code=400;`)
				return
			}
			f.mu.Lock()
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			_, _ = fmt.Fprint(w, `window.code=408;`)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// scan and confirm play the phone's part in a QR login.
func (f *fakeWeChat) scan(uuid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins[uuid].state = 1
	f.changed()
}

func (f *fakeWeChat) confirm(uuid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.logins[uuid]
	l.state = 2
	l.ticket = "ticket-" + strconv.Itoa(len(f.uuids))
	f.changed()
}

func (f *fakeWeChat) expireQR(uuid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins[uuid].state = 3
	f.changed()
}

// waitQR waits for the n-th login uuid to be issued and returns it.
func (f *fakeWeChat) waitQR(t *testing.T, n int) string {
	t.Helper()
	var uuid string
	waitFor(t, fmt.Sprintf("login uuid #%d", n), 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.uuids) >= n {
			uuid = f.uuids[n-1]
			return true
		}
		return false
	})
	return uuid
}

// newLoginPage turns a confirmed login's ticket into a session: keys in
// XML, cookies in headers. Desktop mode must send the UOS patch headers.
func (f *fakeWeChat) newLoginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("client-version") == "" || r.Header.Get("extspam") == "" {
		f.reject("webwxnewloginpage without the desktop headers")
		_, _ = fmt.Fprint(w, `<error><ret>1203</ret><message>为了你的帐号安全，此微信号不能登录网页微信。</message></error>`)
		return
	}
	l := f.logins[q.Get("uuid")]
	if l == nil || l.state != 2 || l.ticket != q.Get("ticket") || q.Get("version") != "v2" {
		f.reject("webwxnewloginpage with a bad ticket: %s", r.URL.RawQuery)
		_, _ = fmt.Fprint(w, `<error><ret>1</ret><message>bad ticket</message></error>`)
		return
	}
	l.ticket = "" // a ticket is good once
	f.sessions++
	n := f.sessions
	if f.sess != nil {
		f.old = append(f.old, f.sess)
	}
	f.sess = &fakeSession{
		sid:    fmt.Sprintf("sid-%d", n),
		skey:   fmt.Sprintf("@crypt_%d", n),
		pass:   fmt.Sprintf("pass-%d", n),
		ticket: fmt.Sprintf("data-ticket-%d", n),
		uin:    int64(1000 + n),
		valid:  true,
	}
	s := f.sess
	for _, c := range []*http.Cookie{
		{Name: "wxsid", Value: s.sid},
		{Name: "wxuin", Value: strconv.FormatInt(s.uin, 10)},
		{Name: "webwx_data_ticket", Value: s.ticket},
	} {
		c.Domain, c.Path = "wx.qq.com", "/"
		http.SetCookie(w, c)
	}
	_, _ = fmt.Fprintf(w, `<error><ret>0</ret><message></message><skey>%s</skey><wxsid>%s</wxsid><wxuin>%d</wxuin><pass_ticket>%s</pass_ticket><isgrayscale>1</isgrayscale></error>`,
		s.skey, s.sid, s.uin, s.pass)
	f.changed()
}

type fakeBaseRequest struct {
	Uin      int64
	Sid      string
	Skey     string
	DeviceID string
}

// authorize checks the keys of a request against the live session: the
// BaseRequest in the body (when given) and the wxsid cookie. f.mu is held.
func (f *fakeWeChat) authorize(r *http.Request, br *fakeBaseRequest, what string) bool {
	s := f.sess
	switch {
	case s == nil || !s.valid:
		f.counts[what+" without a live session"]++
		return false
	case br != nil && br.DeviceID == "":
		f.reject("%s without a device id", what)
		return false
	case br != nil && (br.Sid != s.sid || br.Skey != s.skey || br.Uin != s.uin):
		f.counts[what+" with stale keys"]++
		return false
	}
	if c, err := r.Cookie("wxsid"); err != nil || c.Value != s.sid {
		f.reject("%s without the session cookie", what)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func baseResponse(ret int) map[string]any {
	return map[string]any{"Ret": ret, "ErrMsg": ""}
}

// knownSyncKey reports whether a synccheck-style key ("1_v|2_v+100") is
// one the server has handed out: the newest or an older one (WeChat then
// delivers what came since). f.mu is held.
func (f *fakeWeChat) knownSyncKey(key string) bool {
	var a, b int64
	if _, err := fmt.Sscanf(key, "1_%d|2_%d", &a, &b); err != nil {
		return false
	}
	return b == a+100 && a >= 0 && a <= f.syncKey
}

func (f *fakeWeChat) syncKeyJSON() map[string]any {
	return map[string]any{"Count": 2, "List": []map[string]int64{{"Key": 1, "Val": f.syncKey}, {"Key": 2, "Val": f.syncKey + 100}}}
}

func (f *fakeWeChat) webInit(w http.ResponseWriter, r *http.Request) {
	var body struct{ BaseRequest fakeBaseRequest }
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, &body.BaseRequest, "webwxinit") {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	writeJSON(w, map[string]any{
		"BaseResponse": baseResponse(0),
		"Count":        1,
		"ContactList":  []fakeUser{f.friends[0]},
		"SyncKey":      f.syncKeyJSON(),
		"User":         f.self,
		"SKey":         f.sess.skey,
	})
}

func (f *fakeWeChat) statusNotify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BaseRequest  fakeBaseRequest
		Code         int
		FromUserName string
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, &body.BaseRequest, "webwxstatusnotify") || r.URL.Query().Get("pass_ticket") != f.sess.pass || body.FromUserName != f.self.UserName {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	f.changed()
	writeJSON(w, map[string]any{"BaseResponse": baseResponse(0), "MsgID": "1"})
}

func (f *fakeWeChat) getContact(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, nil, "webwxgetcontact") || r.URL.Query().Get("skey") != f.sess.skey {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	list := []fakeUser{f.self}
	list = append(list, f.friends...)
	for _, g := range f.groups {
		list = append(list, g.fakeUser) // groups come without members
	}
	writeJSON(w, map[string]any{"BaseResponse": baseResponse(0), "MemberCount": len(list), "MemberList": list, "Seq": 0})
}

func (f *fakeWeChat) batchGetContact(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BaseRequest fakeBaseRequest
		List        []struct{ UserName string }
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, &body.BaseRequest, "webwxbatchgetcontact") {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	var out []map[string]any
	for _, item := range body.List {
		for _, g := range f.groups {
			if g.UserName == item.UserName {
				out = append(out, map[string]any{"UserName": g.UserName, "NickName": g.NickName, "MemberCount": len(g.Members), "MemberList": g.Members})
			}
		}
		for _, u := range f.friends {
			if u.UserName == item.UserName {
				out = append(out, map[string]any{"UserName": u.UserName, "NickName": u.NickName, "RemarkName": u.RemarkName, "VerifyFlag": u.VerifyFlag})
			}
		}
	}
	writeJSON(w, map[string]any{"BaseResponse": baseResponse(0), "Count": len(out), "ContactList": out})
}

// syncCheck long-polls for news: selector 2 when messages wait, 0 after
// the poll time, retcode 1101 once the session is gone.
func (f *fakeWeChat) syncCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	deadline := time.After(f.poll)
	for {
		f.mu.Lock()
		s := f.sess
		if f.garbled > 0 {
			f.garbled--
			f.counts["synccheck garbled"]++
			f.mu.Unlock()
			w.WriteHeader(http.StatusBadGateway)
			_, _ = fmt.Fprint(w, `<html>bad gateway</html>`)
			return
		}
		if f.blips > 0 {
			f.blips--
			f.counts["synccheck 1101"]++
			f.mu.Unlock()
			_, _ = fmt.Fprint(w, `window.synccheck={retcode:"1101",selector:"0"}`)
			return
		}
		if s == nil || !s.valid || q.Get("sid") != s.sid || q.Get("skey") != s.skey || q.Get("uin") != strconv.FormatInt(s.uin, 10) {
			f.counts["synccheck 1101"]++
			f.mu.Unlock()
			_, _ = fmt.Fprint(w, `window.synccheck={retcode:"1101",selector:"0"}`)
			return
		}
		if !f.knownSyncKey(q.Get("synckey")) {
			f.reject("synccheck with sync key %q, newest is %d", q.Get("synckey"), f.syncKey)
		}
		if len(f.pending) > 0 {
			f.mu.Unlock()
			_, _ = fmt.Fprint(w, `window.synccheck={retcode:"0",selector:"2"}`)
			return
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			_, _ = fmt.Fprint(w, `window.synccheck={retcode:"0",selector:"0"}`)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeWeChat) webSync(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BaseRequest fakeBaseRequest
		SyncKey     struct {
			Count int
			List  []struct{ Key, Val int64 }
		}
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, &body.BaseRequest, "webwxsync") {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	if body.SyncKey.Count != 2 || len(body.SyncKey.List) != 2 || !f.knownSyncKey(fmt.Sprintf("1_%d|2_%d", body.SyncKey.List[0].Val, body.SyncKey.List[1].Val)) {
		f.reject("webwxsync with sync key %+v, newest is %d", body.SyncKey, f.syncKey)
	}
	msgs := f.pending
	f.pending = nil
	f.syncKey++
	writeJSON(w, map[string]any{
		"BaseResponse": baseResponse(0),
		"AddMsgCount":  len(msgs),
		"AddMsgList":   msgs,
		"SyncKey":      f.syncKeyJSON(),
		"SyncCheckKey": f.syncKeyJSON(),
	})
}

func (f *fakeWeChat) sendMsg(w http.ResponseWriter, r *http.Request) {
	var body struct {
		BaseRequest fakeBaseRequest
		Msg         struct {
			Type         int
			Content      string
			FromUserName string
			ToUserName   string
			LocalID      string
			ClientMsgId  string
		}
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.authorize(r, &body.BaseRequest, "webwxsendmsg") || r.URL.Query().Get("pass_ticket") != f.sess.pass {
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1101)})
		return
	}
	if body.Msg.Type != 1 || body.Msg.FromUserName != f.self.UserName || body.Msg.LocalID == "" {
		f.reject("webwxsendmsg with a bad message: %+v", body.Msg)
		writeJSON(w, map[string]any{"BaseResponse": baseResponse(1)})
		return
	}
	f.nextID++
	id := strconv.FormatInt(f.nextID, 10)
	f.sent = append(f.sent, fakeSent{MsgID: id, From: body.Msg.FromUserName, To: body.Msg.ToUserName, Content: body.Msg.Content, At: time.Now()})
	// WeChat echoes the account's own messages back through the sync.
	f.pending = append(f.pending, fakeMsg{
		MsgId: id, NewMsgId: f.nextID, FromUserName: f.self.UserName, ToUserName: body.Msg.ToUserName,
		MsgType: 1, Content: escapeContent(body.Msg.Content), CreateTime: time.Now().Unix(),
	})
	f.changed()
	writeJSON(w, map[string]any{"BaseResponse": baseResponse(0), "MsgID": id, "LocalID": body.Msg.LocalID})
}

// escapeContent writes text the way web WeChat delivers it.
func escapeContent(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	return strings.ReplaceAll(s, "\n", "<br/>")
}

// push queues messages for the bot's next sync.
func (f *fakeWeChat) push(msgs ...fakeMsg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range msgs {
		if m.MsgId == "" {
			f.nextID++
			m.MsgId = strconv.FormatInt(f.nextID, 10)
			m.NewMsgId = f.nextID
		}
		if m.ToUserName == "" {
			m.ToUserName = f.self.UserName
		}
		if m.CreateTime == 0 {
			m.CreateTime = time.Now().Unix()
		}
		f.pending = append(f.pending, m)
	}
	f.changed()
}

// text is a text message from a friend.
func (f *fakeWeChat) text(from, content string) fakeMsg {
	return fakeMsg{FromUserName: from, MsgType: 1, Content: escapeContent(content)}
}

// groupText is a text message from a member of the test group.
func (f *fakeWeChat) groupText(member, content string) fakeMsg {
	return fakeMsg{FromUserName: f.groups[0].UserName, MsgType: 1, Content: member + ":<br/>" + escapeContent(content)}
}

// invalidate ends the live session as WeChat does when the account logs
// out elsewhere: sync checks answer 1101 and its keys are refused.
func (f *fakeWeChat) invalidate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sess != nil {
		f.sess.valid = false
	}
	f.changed()
}

// blip makes the next sync check answer 1101 while the session itself
// stays valid, so a hot login works.
func (f *fakeWeChat) blip() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blips++
	f.changed()
}

// garble makes the next n sync checks fail with a proxy error page.
func (f *fakeWeChat) garble(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.garbled += n
	f.changed()
}

// sentSince returns the messages sent after the first n.
func (f *fakeWeChat) sentSince(n int) []fakeSent {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n > len(f.sent) {
		return nil
	}
	return append([]fakeSent(nil), f.sent[n:]...)
}

func (f *fakeWeChat) sentCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// waitSent waits until at least n messages were sent after the first from
// and returns them.
func (f *fakeWeChat) waitSent(t *testing.T, from, n int) []fakeSent {
	t.Helper()
	var got []fakeSent
	waitFor(t, fmt.Sprintf("%d sent messages", n), 15*time.Second, func() bool {
		got = f.sentSince(from)
		return len(got) >= n
	})
	return got
}

func (f *fakeWeChat) rejections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.rejected...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
