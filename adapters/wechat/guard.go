package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxGuardedBody bounds the responses guardTransport reads.
const maxGuardedBody = 32 << 20

// guardTransport protects the process from openwechat's trust in WeChat's
// answers: its sync goroutine dereferences the SyncKey of every webwxinit
// and webwxsync answer, and the User of webwxinit, without checking, so a
// refusal without them ({"BaseResponse":{"Ret":1101}}) would panic in a
// goroutine nobody can recover. It fills in an empty SyncKey and turns a
// webwxinit answer without a user into an error.
type guardTransport struct {
	next http.RoundTripper
}

func (g guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	path := req.URL.Path
	init := strings.HasSuffix(path, "/webwxinit")
	if !init && !strings.HasSuffix(path, "/webwxsync") {
		return resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxGuardedBody))
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(guardBody(body, init)))
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// guardBody returns body with the fields openwechat dereferences made
// safe; body is returned as it is when it is not a JSON object.
func guardBody(body []byte, init bool) []byte {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		return body
	}
	changed := false
	if missing(doc["SyncKey"]) {
		doc["SyncKey"] = json.RawMessage(`{"Count":0,"List":[]}`)
		changed = true
	} else if fixed, ok := fixSyncKey(doc["SyncKey"]); ok {
		doc["SyncKey"] = fixed
		changed = true
	}
	if init && missing(doc["User"]) {
		var br struct{ Ret int }
		_ = json.Unmarshal(doc["BaseResponse"], &br)
		if br.Ret == 0 {
			doc["BaseResponse"] = json.RawMessage(`{"Ret":-1,"ErrMsg":"webwxinit answered without a user"}`)
		}
		doc["User"] = json.RawMessage(`{}`)
		changed = true
	}
	if !changed {
		return body
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// fixSyncKey makes a SyncKey's Count match its List: openwechat sizes a
// slice by Count and fills it from List. ok is false when nothing needed
// fixing (or the key is beyond repair, and openwechat's decoding fails).
func fixSyncKey(raw json.RawMessage) (json.RawMessage, bool) {
	var key map[string]json.RawMessage
	if err := json.Unmarshal(raw, &key); err != nil {
		return nil, false
	}
	count := -1 // a missing Count is fixed too
	var list []json.RawMessage
	if raw, ok := key["Count"]; ok && json.Unmarshal(raw, &count) != nil {
		return nil, false
	}
	if raw, ok := key["List"]; ok && json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	if count == len(list) {
		return nil, false
	}
	key["Count"] = json.RawMessage(strconv.Itoa(len(list)))
	out, err := json.Marshal(key)
	if err != nil {
		return nil, false
	}
	return out, true
}

// missing reports whether a JSON field is absent or not an object.
func missing(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || t[0] != '{'
}

// redactHook strips the query from the URL in a failed request's error:
// WeChat's URLs carry the session keys (skey, sid, pass_ticket), and
// errors end up in logs.
type redactHook struct{}

func (redactHook) BeforeRequest(*http.Request) {}

func (redactHook) AfterRequest(_ *http.Response, err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = withoutQuery(ue.URL)
	}
}

// withoutQuery returns raw without its query and fragment.
func withoutQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}
