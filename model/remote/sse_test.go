package remote

import (
	"errors"
	"strings"
	"testing"
)

func TestReadStreamFormats(t *testing.T) {
	tests := []struct {
		name, in string
		text     string
		finish   string
		wantErr  bool
	}{
		{name: "crlf and comments",
			in:   ": ping\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r\n: keep-alive\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: [DONE]\r\n\r\n",
			text: "ab", finish: "stop"},
		{name: "no space after colon, event field",
			in:   "event: message\ndata:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata:[DONE]\n\n",
			text: "x"},
		{name: "done without trailing blank line",
			in:   "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n",
			text: "x"},
		{name: "finish without done",
			in:   "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"length\"}]}\n\n",
			text: "x", finish: "length"},
		{name: "cut mid-event",
			in:   "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[{\"del",
			text: "x", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "garbage", in: "data: <html>\n\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := readStream(strings.NewReader(tt.in), nil)
			if (err != nil) != tt.wantErr || out.Text != tt.text || out.FinishReason != tt.finish {
				t.Errorf("got %+v, %v; want text %q finish %q error %v", out, err, tt.text, tt.finish, tt.wantErr)
			}
		})
	}
}

func TestReadStreamLongLine(t *testing.T) {
	in := "data: " + strings.Repeat("x", maxLine+10) + "\n\n"
	_, err := readStream(strings.NewReader(in), nil)
	if !errors.Is(err, errServer) {
		t.Fatalf("got %v, want errServer", err)
	}
}

func FuzzReadStream(f *testing.F) {
	f.Add("data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n")
	f.Add(": c\r\ndata: {\"error\":\"x\"}\r\n\r\n")
	f.Add("data: {\"choices\":[{\"message\":{\"content\":\"m\"}}]}\ndata: \n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var streamed strings.Builder
		out, _ := readStream(strings.NewReader(in), func(s string) { streamed.WriteString(s) })
		if out.Text != streamed.String() {
			t.Fatalf("returned text %q differs from streamed %q", out.Text, streamed.String())
		}
	})
}
