package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/feedback"
)

func newFeedbackCheckCommand(a *app) *cobra.Command {
	var f feedbackFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the consistency check over the feedback database",
		Long: `check opens the database read-only and runs bbolt's consistency check
over every page. A damaged file is reported with what to do: "chatloop
feedback salvage FILE OUT" copies every readable answer, vote and choice
into a new file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _, err := a.feedbackPaths(cmd, &f)
			if err != nil {
				return err
			}
			s, err := feedback.Open(path, feedback.Options{ReadOnly: true, Timeout: time.Second})
			if errors.Is(err, feedback.ErrLocked) {
				return fmt.Errorf("%w\n(check a copy: chatloop feedback backup COPY, then chatloop feedback check --db COPY)", err)
			}
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Check(cmd.Context()); err != nil {
				return err
			}
			st, err := s.Stats(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d answers, %d votes, %d choices)\n", path, st.Answers, st.Votes, st.Choices)
			return nil
		},
	}
	f.bind(cmd)
	return cmd
}

func newFeedbackSalvageCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "salvage FILE OUT",
		Short: "Copy every readable answer, vote and choice of a damaged database into a new one",
		Long: `salvage reads FILE read-only, skipping damaged pages, and writes every
answer, vote and A/B choice it can read into OUT (a new file; the message,
chat and group indexes are rebuilt from the answers). It then reports what
it could not read. Point [feedback] db at OUT once you are content with it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := feedback.Salvage(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "salvaged %d answers, %d votes, %d choices into %s\n", rep.Answers, rep.Votes, rep.Choices, args[1])
			if rep.Damaged() {
				fmt.Fprintf(w, "lost:\n%s", rep.Summary())
			} else {
				fmt.Fprintln(w, "nothing was lost")
			}
			return nil
		},
	}
	return cmd
}
