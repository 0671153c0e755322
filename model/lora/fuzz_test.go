package lora_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chatloop/chatloop/model/lora"
)

// FuzzParse: any bytes give an adapter that validates, or an error
// wrapping ErrFormat; never a panic.
func FuzzParse(f *testing.F) {
	a := sample(9)
	a.Pairs = a.Pairs[:2]
	for _, p := range a.Pairs {
		p.In, p.Out, p.Rank = 2, 2, 1
		p.A, p.B = p.A[:2], p.B[:2]
	}
	path := f.TempDir() + "/seed.gguf"
	if err := lora.Write(path, a); err != nil {
		f.Fatal(err)
	}
	data, err := readFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, n := range []int{8, 24, len(data) / 2, len(data) - 8} {
		f.Add(data[:n])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := lora.Parse(bytes.Clone(data))
		if err != nil {
			if a != nil || !errors.Is(err, lora.ErrFormat) {
				t.Fatalf("got %v with error %v, want nil and ErrFormat", a, err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("Parse returned an adapter that does not validate: %v", err)
		}
	})
}
