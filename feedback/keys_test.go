package feedback

import (
	"bytes"
	"testing"
)

// FuzzKeyParts checks that keys built from parts read back as the same
// parts, and that reading arbitrary bytes as a key never panics.
func FuzzKeyParts(f *testing.F) {
	f.Add("discord", "1234", []byte{})
	f.Add("", "", []byte{0x80})
	f.Add("a\x00b", "\xff", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, a, b string, junk []byte) {
		k := appendPart(appendPart(nil, a), b)
		gotA, rest, err := readPart(k)
		if err != nil || gotA != a {
			t.Fatalf("first part %q, %v; want %q", gotA, err, a)
		}
		gotB, rest, err := readPart(rest)
		if err != nil || gotB != b || len(rest) != 0 {
			t.Fatalf("second part %q, rest %q, %v; want %q", gotB, rest, err, b)
		}
		// Prefix-free: a seek to the prefix of part a never lands among
		// the keys of another part b.
		if a != b && bytes.HasPrefix(appendPart(nil, b), appendPart(nil, a)) {
			t.Fatalf("part %q encodes as a prefix of part %q", a, b)
		}
		readPart(junk)
		if v, _, err := decodeChoice(junk); err == nil && len(v) != len(junk)-8 {
			t.Fatalf("decodeChoice(%q) winner %q", junk, v)
		}
		decodeVote(junk)
	})
}
