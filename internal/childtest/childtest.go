// Package childtest runs a test binary as a child process of its own
// test, for tests that need a second process: one killed mid-write, one
// holding a file lock or serving a socket. The child is the same binary,
// told its role by an environment variable that its TestMain checks.
package childtest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"testing"
)

// Start runs the test binary with roleVar=role and env added to its
// environment, and waits for the child to print "ready" on its standard
// output. It returns the process, its standard input and a scanner over
// the rest of its output. The child is killed when the test ends; its
// standard error is logged if the test failed.
func Start(t *testing.T, roleVar, role string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), append([]string{roleVar + "=" + role}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("child did not start: %q %v\n%s", sc.Text(), sc.Err(), stderr.String())
	}
	return cmd, stdin, sc
}
