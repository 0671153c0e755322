package feedback_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

func ExampleStore_Vote() {
	dir, _ := os.MkdirTemp("", "feedback-example")
	defer os.RemoveAll(dir)
	s, err := feedback.Open(filepath.Join(dir, "chatloop.db"), feedback.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()

	// Two answers to the same prompt (an answer and its regeneration),
	// recorded before they are sent.
	prompt := []bot.Turn{{Role: "user", Content: "hello"}}
	for _, a := range []bot.Answer{
		{ID: "01J0000000000000000000000A", GroupID: "g1", Platform: "console", ChatID: "tty", Prompt: prompt, Text: "Hello! How can I help?", Finished: true},
		{ID: "01J0000000000000000000000B", GroupID: "g1", Platform: "console", ChatID: "tty", Prompt: prompt, Text: "What.", Finished: true},
	} {
		if err := s.RecordAnswer(ctx, a); err != nil {
			fmt.Println(err)
			return
		}
	}

	// A thumbs-up on the first and a thumbs-down on the second; a later
	// vote by the same person replaces the earlier one.
	s.Vote(ctx, "01J0000000000000000000000A", "console", "me", +1)
	s.Vote(ctx, "01J0000000000000000000000B", "console", "me", +1)
	s.Vote(ctx, "01J0000000000000000000000B", "console", "me", -1)
	if err := s.Vote(ctx, "01J0000000000000000000000C", "console", "me", +1); err != nil {
		fmt.Println("unknown answer:", err)
	}

	n, err := s.Export(ctx, os.Stdout, feedback.ExportOptions{Format: feedback.FormatPreference})
	fmt.Println(n, "pair", err)
	// Output:
	// unknown answer: voting: answer "01J0000000000000000000000C": not found
	// {"prompt":[{"role":"user","content":"hello"}],"chosen":[{"role":"assistant","content":"Hello! How can I help?"}],"rejected":[{"role":"assistant","content":"What."}]}
	// 1 pair <nil>
}
