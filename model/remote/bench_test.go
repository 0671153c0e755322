package remote

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkReadStream measures parsing a 2,000-chunk answer stream.
func BenchmarkReadStream(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	sb.WriteString("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	stream := sb.String()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		if _, err := readStream(strings.NewReader(stream), nil); err != nil {
			b.Fatal(err)
		}
	}
}
