package main

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/chatloop/chatloop/model/ggml"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; else the module version Go recorded.
var version = ""

// versionText is what `chatloop --version` prints: the version, the
// commit it was built from, the Go toolchain and platform, and the kernel
// paths this CPU gets (matrix products, attention, activation quantizer).
func versionText() string {
	v, commit, when, dirty := version, "unknown", "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if dirty {
		commit += " (modified)"
	}
	if when != "" {
		commit += " " + when
	}
	var b strings.Builder
	fmt.Fprintf(&b, "chatloop %s\n", v)
	fmt.Fprintf(&b, "commit %s\n", commit)
	fmt.Fprintf(&b, "%s %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(&b, "kernels: %s\n", strings.Join(ggml.KernelPaths(), ", "))
	return b.String()
}

// freshSeed draws a random non-zero sampling seed.
func freshSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])>>1 + 1
}
