// Command reward-synth writes a synthetic preference set with a known rule
// (see synth.Rule): answers that follow the rule are chosen, those that
// break it rejected. With -shuffle a coin swaps each pair, which makes the
// labels noise: a reward model trained on it must stay near 0.5.
//
//	go run ./scripts/reward-synth -n 400 -seed 1 > train.jsonl
//	go run ./scripts/reward-synth -n 200 -seed 2 > test.jsonl
//	go run ./scripts/reward-synth -n 400 -seed 1 -shuffle > shuffled.jsonl
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/chatloop/chatloop/feedback/reward/synth"
)

func main() {
	n := flag.Int("n", 400, "number of pairs")
	seed := flag.Uint64("seed", 1, "seed")
	shuffle := flag.Bool("shuffle", false, "swap each pair with probability 1/2 (noise labels)")
	rule := flag.Bool("rule", false, "print the rule and exit")
	flag.Parse()
	if *rule {
		fmt.Println(synth.Rule)
		return
	}
	if *n <= 0 {
		fmt.Fprintln(os.Stderr, "reward-synth: -n must be positive")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	if err := synth.WriteJSONL(w, synth.Pairs(*n, *seed, *shuffle)); err != nil {
		fmt.Fprintln(os.Stderr, "reward-synth:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "reward-synth:", err)
		os.Exit(1)
	}
}
