package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGeneratedFileIsCurrent: model/ggml/neon_arm64.s is what the source
// assembles to (needs binutils-aarch64-linux-gnu; skips without it).
func TestGeneratedFileIsCurrent(t *testing.T) {
	for _, tool := range []string{"aarch64-linux-gnu-as", "aarch64-linux-gnu-objdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install binutils-aarch64-linux-gnu)", tool)
		}
	}
	src, err := os.ReadFile("neon_arm64.s.in")
	if err != nil {
		t.Fatal(err)
	}
	got, err := generate(string(src), "aarch64-linux-gnu-as", "aarch64-linux-gnu-objdump")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../model/ggml/neon_arm64.s")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("model/ggml/neon_arm64.s is stale: go run ./scripts/neonasm")
	}
}

func TestAssembleEncodesAndComments(t *testing.T) {
	if _, err := exec.LookPath("aarch64-linux-gnu-as"); err != nil {
		t.Skip("binutils-aarch64-linux-gnu not installed")
	}
	out, err := generate("TEXT ·f(SB), 0, $0\n\t// neon {\n\tsdot v0.4s, v1.16b, v2.16b\n1:\tsubs x3, x3, #1\n\tb.ne 1b\n\t// }\n\tRET\n",
		"aarch64-linux-gnu-as", "aarch64-linux-gnu-objdump")
	if err != nil {
		t.Fatal(err)
	}
	// SDOT (vector) is 0x4e809400 | Rm<<16 | Rn<<5 | Rd (Arm ARM C7.2.285).
	for _, want := range []string{"TEXT ·f(SB)", "\tWORD $0x4e829420 // sdot v0.4s, v1.16b, v2.16b\n", "\tWORD $0x54ffffe1 // b.ne", "\tRET\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := generate("\t// neon {\n\tnot_an_instruction x0\n\t// }\n", "aarch64-linux-gnu-as", "aarch64-linux-gnu-objdump"); err == nil {
		t.Error("a bad instruction assembled")
	}
	if _, err := generate("\t// neon {\n\tnop\n", "aarch64-linux-gnu-as", "aarch64-linux-gnu-objdump"); err == nil {
		t.Error("an unclosed block was accepted")
	}
}
