// Package synth writes synthetic preference data with a known rule, to
// prove that a reward model learns the rule and not noise: answers that
// follow the rule are chosen, answers that break it rejected.
package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/chatloop/chatloop/feedback/reward"
)

// Rule is the stated rule of the synthetic set.
const Rule = "An answer ends by asking the user a follow-up question."

var (
	topics = []string{
		"the moon", "coffee", "bicycles", "the ocean", "volcanoes", "music", "gardening", "trains",
		"chess", "rainforests", "bread", "the winter", "honeybees", "mountains", "libraries", "kites",
		"glaciers", "jazz", "tea", "the desert", "owls", "bridges", "rivers", "paper", "clocks",
		"lighthouses", "dolphins", "maps", "candles", "windmills",
	}
	asks = []string{
		"Tell me about %s.", "What do you know about %s?", "Can you explain %s to me?",
		"Say something interesting about %s.", "I am curious about %s.", "Give me a fact about %s.",
	}
	facts = []string{
		"%s has a long history", "people have studied %s for centuries", "%s changes with the seasons",
		"many stories are told about %s", "%s can be found all over the world", "%s is older than most people think",
		"scientists still learn new things about %s", "%s inspires artists and writers", "%s is simple to describe but hard to master",
		"there are many kinds of %s", "%s plays a part in daily life", "%s looks different in every place",
	}
	followUps = []string{
		"Would you like to know more?", "What made you curious about it?", "Shall I tell you another fact?",
		"Have you seen it yourself?", "Which part interests you most?", "Do you want a longer explanation?",
	}
	closings = []string{
		"That is all I know.", "I hope this helps.", "It is a fascinating subject.",
		"There is much more to learn.", "Many people enjoy it.", "That is the short version.",
	}
)

// Prompt returns the i-th prompt of a seeded sequence.
func prompt(r *rand.Rand) (topic string, msgs []reward.Message) {
	topic = topics[r.IntN(len(topics))]
	return topic, []reward.Message{{Role: "user", Content: fmt.Sprintf(asks[r.IntN(len(asks))], topic)}}
}

func body(r *rand.Rand, topic string) string {
	n := 1 + r.IntN(2)
	var s []string
	for range n {
		f := fmt.Sprintf(facts[r.IntN(len(facts))], topic)
		s = append(s, strings.ToUpper(f[:1])+f[1:]+".")
	}
	return strings.Join(s, " ")
}

// Follows answers whether an answer follows Rule.
func Follows(answer string) bool {
	return strings.HasSuffix(strings.TrimSpace(answer), "?")
}

// Pairs returns n preference pairs: the chosen answer follows Rule, the
// rejected one does not; both are about the prompt's topic. With shuffle,
// a coin decides for each pair whether to swap them (labels made noise).
func Pairs(n int, seed uint64, shuffle bool) []reward.Pair {
	r := rand.New(rand.NewPCG(seed, 0x73796e7468))
	out := make([]reward.Pair, 0, n)
	for range n {
		topic, p := prompt(r)
		good := body(r, topic) + " " + followUps[r.IntN(len(followUps))]
		bad := body(r, topic) + " " + closings[r.IntN(len(closings))]
		if shuffle && r.IntN(2) == 0 {
			good, bad = bad, good
		}
		out = append(out, reward.Pair{Prompt: p, Chosen: good, Rejected: bad})
	}
	return out
}

// Prompts returns n prompts for best-of-n runs.
func Prompts(n int, seed uint64) [][]reward.Message {
	r := rand.New(rand.NewPCG(seed, 0x70726f6d7074))
	out := make([][]reward.Message, n)
	for i := range out {
		_, out[i] = prompt(r)
	}
	return out
}

// preferenceRow is a row of chatloop's preference export.
type preferenceRow struct {
	Prompt   []reward.Message `json:"prompt"`
	Chosen   []reward.Message `json:"chosen"`
	Rejected []reward.Message `json:"rejected"`
}

// WriteJSONL writes pairs as rows of chatloop's preference export (the
// format TRL's RewardTrainer reads).
func WriteJSONL(w io.Writer, pairs []reward.Pair) error {
	enc := json.NewEncoder(w)
	for _, p := range pairs {
		row := preferenceRow{
			Prompt:   p.Prompt,
			Chosen:   []reward.Message{{Role: "assistant", Content: p.Chosen}},
			Rejected: []reward.Message{{Role: "assistant", Content: p.Rejected}},
		}
		if err := enc.Encode(row); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	return nil
}

// VowelRule is the rule of the best-of-n check: unlike Rule, a small
// random-weight model's samples follow it some of the time (about one in
// five for the tests' tiny model).
const VowelRule = "An answer contains a lowercase vowel (Latin-script words)."

// HasVowel answers whether an answer follows VowelRule.
func HasVowel(answer string) bool {
	return strings.ContainsAny(answer, "aeiou")
}
