package ilink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// referenceFixture is what scripts/ilink-reference/record.mjs recorded of
// Tencent's reference client: each call's request (protocol headers and
// JSON body), the server's answer it was given, and what it read from it.
type referenceFixture struct {
	Reference string `json:"reference"`
	Calls     []struct {
		Call    string          `json:"call"`
		Request recordedRequest `json:"request"`
		Result  map[string]any  `json:"result"`
		Input   map[string]any  `json:"input"`
	} `json:"calls"`
}

type recordedRequest struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers"`
	Body    map[string]any    `json:"body"`
	Answer  string            `json:"answer"`
}

// transportHeaders are added by an HTTP client to every request, not by
// the protocol.
var transportHeaders = map[string]bool{
	"host": true, "connection": true, "accept": true, "accept-language": true, "accept-encoding": true,
	"sec-fetch-mode": true, "user-agent": true, "content-length": true,
}

// TestRequestsMatchReference makes the calls the reference client made
// when its requests were recorded, through chatloop's client, against a
// server giving the same answers: the requests must carry the same
// protocol headers and the same JSON (but for the self-declared bot_agent
// and the random client_id and X-WECHAT-UIN), and the answers must be
// read the same way, uint64 ids included.
func TestRequestsMatchReference(t *testing.T) {
	raw, err := os.ReadFile("testdata/reference_requests.json")
	if err != nil {
		t.Fatal(err)
	}
	var fix referenceFixture
	if err := json.Unmarshal(raw, &fix); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		got  []recordedRequest
		next string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := recordedRequest{Method: r.Method, Path: r.URL.Path, Headers: map[string]string{}}
		if r.URL.RawQuery != "" {
			req.Query = "?" + r.URL.RawQuery
		}
		for k, v := range r.Header {
			if k = strings.ToLower(k); !transportHeaders[k] {
				req.Headers[k] = strings.Join(v, ",")
			}
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &req.Body); err != nil {
				t.Errorf("%s: body is not JSON: %v", r.URL.Path, err)
			}
		}
		mu.Lock()
		got = append(got, req)
		answer := next
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()

	c := api{http: srv.Client()}
	acct := account{Token: "TOKEN", BaseURL: srv.URL}
	ctx := context.Background()
	if len(fix.Calls) == 0 {
		t.Fatal("the fixture has no calls")
	}
	for _, call := range fix.Calls {
		mu.Lock()
		next = call.Request.Answer
		before := len(got)
		mu.Unlock()
		result := map[string]any{}
		switch call.Call {
		case "getupdates":
			resp, err := c.getUpdates(ctx, acct, call.Input["buf"].(string), 5*time.Second)
			if err != nil || len(resp.Msgs) != 1 || len(resp.Msgs[0].ItemList) != 1 || resp.Msgs[0].ItemList[0].RefMsg == nil {
				t.Fatalf("getupdates: %+v, %v", resp, err)
			}
			m := resp.Msgs[0]
			result = map[string]any{
				"message_id":             string(m.MessageID),
				"item_msg_id":            string(m.ItemList[0].MsgID),
				"ref_svr_id":             string(m.ItemList[0].RefMsg.SvrID),
				"get_updates_buf":        resp.GetUpdatesBuf,
				"longpolling_timeout_ms": float64(resp.LongpollingTimeoutMS),
			}
		case "sendmessage":
			id, err := c.sendText(ctx, acct, call.Input["to"].(string), call.Input["context_token"].(string), newClientID(), call.Input["text"].(string))
			if err != nil {
				t.Fatal(err)
			}
			result["server_message_id"] = string(id)
		case "getconfig":
			ticket, err := c.typingTicket(ctx, acct, call.Input["user"].(string), call.Input["context_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			result["typing_ticket"] = ticket
		case "sendtyping":
			if err := c.sendTyping(ctx, acct, call.Input["user"].(string), call.Input["ticket"].(string), int(call.Input["status"].(float64))); err != nil {
				t.Fatal(err)
			}
		case "notifystart", "notifystop":
			if err := c.notify(ctx, acct, call.Call); err != nil {
				t.Fatal(err)
			}
		case "get_bot_qrcode":
			qr, err := c.qrCode(ctx, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			result["qrcode_img_content"] = qr.QRCodeImgContent
		case "get_qrcode_status":
			st, err := c.qrStatus(ctx, srv.URL, call.Input["qrcode"].(string), "")
			if err != nil {
				t.Fatal(err)
			}
			result = map[string]any{"connected": st.Status == qrConfirmed, "bot_token": st.BotToken, "ilink_bot_id": st.ILinkBotID, "baseurl": st.BaseURL, "ilink_user_id": st.ILinkUserID}
		default:
			t.Fatalf("the fixture has a call %q this test does not know", call.Call)
		}
		if diff := cmp.Diff(call.Result, result); diff != "" {
			t.Errorf("%s: what the answer reads as differs from the reference (-reference +chatloop):\n%s", call.Call, diff)
		}
		mu.Lock()
		if len(got) != before+1 {
			t.Fatalf("%s: %d requests, want 1", call.Call, len(got)-before)
		}
		ours := got[before]
		mu.Unlock()
		want := call.Request
		for _, r := range []*recordedRequest{&want, &ours} {
			if _, ok := want.Headers["x-wechat-uin"]; ok {
				checkUIN(t, call.Call, r.Headers["x-wechat-uin"])
				r.Headers["x-wechat-uin"] = "<random>"
			}
			normalizeBody(r.Body)
			r.Answer = ""
		}
		if diff := cmp.Diff(want, ours); diff != "" {
			t.Errorf("%s: the request differs from the reference's (-reference +chatloop):\n%s", call.Call, diff)
		}
	}
}

// normalizeBody replaces the values that differ by design: bot_agent is
// each client's own name, client_id a random id.
func normalizeBody(b map[string]any) {
	if bi, ok := b["base_info"].(map[string]any); ok && bi["bot_agent"] != nil {
		bi["bot_agent"] = "<agent>"
	}
	if msg, ok := b["msg"].(map[string]any); ok {
		if id, ok := msg["client_id"].(string); ok && id != "" {
			msg["client_id"] = "<client id>"
		}
	}
}

func checkUIN(t *testing.T, call, v string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Errorf("%s: X-WECHAT-UIN %q is not base64", call, v)
		return
	}
	if _, err := strconv.ParseUint(string(raw), 10, 32); err != nil {
		t.Errorf("%s: X-WECHAT-UIN decodes to %q, not a decimal uint32", call, raw)
	}
}
