package discord

import (
	"testing"

	"github.com/chatloop/chatloop/adapters/adaptertest"
	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
)

// openTestStore opens the real feedback store (adaptertest.OpenStore) and
// returns it with a function that reads one person's vote on an answer
// back from the file.
func openTestStore(t *testing.T) (*feedback.Store, func(bot.AnswerID, string) (int, bool)) {
	t.Helper()
	st := adaptertest.OpenStore(t)
	return st, func(id bot.AnswerID, voter string) (int, bool) { return readVote(t, st, id, voter) }
}

// readVote reads voter's vote on answer id back from the file.
func readVote(t *testing.T, st *feedback.Store, id bot.AnswerID, voter string) (int, bool) {
	t.Helper()
	return adaptertest.VoteOf(t, st, Platform, id, bot.UserID(voter))
}
