// Command chatloop puts a local language model into WeChat groups and
// Discord servers and turns the votes on its answers into preference data.
package main

import (
	"os"
)

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
