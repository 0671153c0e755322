package chat

import (
	"encoding/json"
	"testing"
)

func TestFunctionCallArgumentsBothForms(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"name":"f","arguments":"{\"q\": \"x\"}"}`, `{"q": "x"}`}, // OpenAI: text kept as it is
		{`{"name":"f","arguments":{"q": "x", "n": [1, 2]}}`, `{"q":"x","n":[1,2]}`},
		{`{"name":"f","arguments":{}}`, `{}`},
		{`{"name":"f"}`, ``},
		{`{"name":"f","arguments":null}`, ``},
	} {
		var f FunctionCall
		if err := json.Unmarshal([]byte(c.in), &f); err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if f.Name != "f" || f.Arguments != c.want {
			t.Errorf("%s: got %+v, want arguments %s", c.in, f, c.want)
		}
	}
	for _, bad := range []string{`{"name":"f","arguments":[1]}`, `{"name":"f","arguments":3}`, `{"name":"f","arguments":{"q":}}`} {
		var f FunctionCall
		if err := json.Unmarshal([]byte(bad), &f); err == nil {
			t.Errorf("%s: got %+v, want an error", bad, f)
		}
	}
	// A message round-trips through the OpenAI form.
	m := Message{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function", Function: FunctionCall{Name: "f", Arguments: `{"q":"x"}`}}}}
	b, _ := json.Marshal(m)
	var back Message
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(m) {
		t.Errorf("round trip of %s: %+v, %v", b, back, err)
	}
}

// FuzzFunctionCallJSON: any input decodes or fails without a panic; an
// object's arguments come back as valid compact JSON that decodes to the
// same call again.
func FuzzFunctionCallJSON(f *testing.F) {
	f.Add(`{"name":"f","arguments":{"q":"x"}}`)
	f.Add(`{"name":"f","arguments":"{\"q\":1}"}`)
	f.Add(`{"name":"f","arguments":null}`)
	f.Add(`{"arguments":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var fc FunctionCall
		if err := json.Unmarshal([]byte(in), &fc); err != nil {
			return
		}
		b, err := json.Marshal(fc)
		if err != nil {
			t.Fatal(err)
		}
		var back FunctionCall
		if err := json.Unmarshal(b, &back); err != nil || back != fc {
			t.Fatalf("%s: %+v re-encoded as %s, read back as %+v (%v)", in, fc, b, back, err)
		}
	})
}
