package feedback

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

// Export formats, as Hugging Face TRL reads them (conversational JSONL).
const (
	// FormatPreference rows are {"prompt":[…],"chosen":[…],"rejected":[…]}:
	// siblings of one prompt group with different net scores, and A/B
	// choices. Ties are skipped.
	FormatPreference = "preference"
	// FormatKTO rows are {"prompt":[…],"completion":[…],"label":bool}: one
	// per answer with a non-zero net score, label true when positive.
	FormatKTO = "kto"
	// FormatSFT rows are {"messages":[…]}: the prompt and the answer, for
	// finished, complete answers whose net score is at least MinScore.
	FormatSFT = "sft"
	// FormatRaw rows are every answer with its votes and choices, people
	// as keyed hashes.
	FormatRaw = "raw"
	// FormatOpenAIDPO rows are OpenAI's preference fine-tuning JSONL:
	// {"input":{"messages":[…]},"preferred_output":[…],
	// "non_preferred_output":[…]}, the same pairs as FormatPreference.
	FormatOpenAIDPO = "openai-dpo"
	// FormatOpenAISFT rows are OpenAI's chat fine-tuning JSONL,
	// {"messages":[…]}, the same rows as FormatSFT.
	FormatOpenAISFT = "openai-sft"
)

// Formats lists the export formats.
var Formats = []string{FormatPreference, FormatKTO, FormatSFT, FormatRaw, FormatOpenAIDPO, FormatOpenAISFT}

// OpenAIDPORow is one row of FormatOpenAIDPO. An answer that called tools
// brings its tool rounds into its output (assistant tool calls and tool
// results, then its final assistant message), and the tools offered go
// into Input.Tools.
type OpenAIDPORow struct {
	Input              OpenAIInput     `json:"input"`
	PreferredOutput    []OpenAIMessage `json:"preferred_output"`
	NonPreferredOutput []OpenAIMessage `json:"non_preferred_output"`
}

// OpenAIInput is the prompt of an OpenAIDPORow and the tools offered.
type OpenAIInput struct {
	Messages []OpenAIMessage `json:"messages"`
	Tools    []chat.Tool     `json:"tools,omitempty"`
}

// OpenAISFTRow is one row of FormatOpenAISFT: the messages (the answer's
// tool rounds before its final message) and the tools offered.
type OpenAISFTRow struct {
	Messages []OpenAIMessage `json:"messages"`
	Tools    []chat.Tool     `json:"tools,omitempty"`
}

// ExportOptions choose what Export writes.
type ExportOptions struct {
	Format string `json:"format"`
	// Since and Until keep answers created in [Since, Until); zero means
	// unbounded.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Platform keeps one platform's answers; empty keeps all.
	Platform string `json:"platform,omitempty"`
	// MinVotes keeps answers with at least this many votes (for A/B
	// pairs: comparisons with at least this many choices). In a
	// preference pair from votes both answers must have them.
	MinVotes int `json:"min_votes,omitempty"`
	// MinScore is the least net score (up minus down) of an SFT row.
	MinScore int `json:"min_score,omitempty"`
	// MaxPairsPerUser caps the preference pairs (preference, openai-dpo)
	// whose prompt one person asked; 0 means no cap. Pairs are taken in
	// order, so the first ones of a person's are kept.
	MaxPairsPerUser int `json:"max_pairs_per_user,omitempty"`
	// Model keeps one model's answers: its name ("qwen2.5-0.5b-instruct"),
	// or its name and quantization as stats shows them
	// ("qwen2.5-0.5b-instruct Q8_0"); empty keeps all.
	Model string `json:"model,omitempty"`
	// Version keeps one model version's answers: the version as stats
	// shows it ("qwen2.5-0.5b-instruct+tuned-3f2a Q8_0 @3f2a9c0d11e4"),
	// or its name and quantization without the digest; empty keeps all.
	// A preference pair is kept when both its answers are of the version.
	Version string `json:"version,omitempty"`
	// Backend keeps one backend's answers ("local", "openai", "demo");
	// empty keeps all.
	Backend string `json:"backend,omitempty"`
	// IncludeDemo keeps the demo backend's answers (labelled echoes, not a
	// model's), which are left out otherwise. Backend "demo" keeps them
	// too.
	IncludeDemo bool `json:"include_demo,omitempty"`
}

// BackendDemo is the backend name the demo generator records: its answers
// are echoes, not a model's, and stay out of training data and stats
// unless asked for.
const BackendDemo = "demo"

// isDemo reports whether an answer came from the demo backend.
func isDemo(r *answerRecord) bool { return r.Model.Backend == BackendDemo }

// Validate reports options Export refuses: an unknown format or a bad
// filter.
func (o ExportOptions) Validate() error {
	if !slices.Contains(Formats, o.Format) {
		return fmt.Errorf("%w: format %q, want one of %v", ErrInvalid, o.Format, Formats)
	}
	if o.MaxPairsPerUser < 0 {
		return fmt.Errorf("%w: max pairs per user %d, want 0 (no cap) or more", ErrInvalid, o.MaxPairsPerUser)
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Until.After(o.Since) {
		return fmt.Errorf("%w: until %s is not after since %s", ErrInvalid, o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339))
	}
	return nil
}

func (o ExportOptions) keeps(r *answerRecord, t *tally) bool {
	return o.keepsFacts(factsOf(r), t)
}

// facts are what the export filters look at.
type facts struct {
	platform string
	backend  string
	name     string // the model's name
	modelKey string // modelKey of the model: name and quantization
	version  string // versionOf the model
	created  time.Time
}

func factsOf(r *answerRecord) facts {
	return facts{platform: r.Platform, backend: r.Model.Backend, name: r.Model.Name, modelKey: modelKey(r.Model), version: versionOf(r.Model), created: r.Created}
}

func (o ExportOptions) keepsFacts(f facts, t *tally) bool {
	if o.Platform != "" && f.platform != o.Platform {
		return false
	}
	if f.backend == BackendDemo && !o.IncludeDemo && o.Backend != BackendDemo {
		return false
	}
	if o.Backend != "" && f.backend != o.Backend {
		return false
	}
	if o.Model != "" && !strings.EqualFold(f.name, o.Model) && !strings.EqualFold(f.modelKey, o.Model) {
		return false
	}
	if o.Version != "" && f.version != o.Version && !strings.HasPrefix(f.version, o.Version+" ") {
		return false
	}
	if !o.Since.IsZero() && f.created.Before(o.Since) {
		return false
	}
	if !o.Until.IsZero() && !f.created.Before(o.Until) {
		return false
	}
	return t.votes() >= o.MinVotes
}

// Message is one role/content message of an exported row.
type Message = bot.Turn

// PreferenceRow is one row of FormatPreference. An answer that called
// tools brings its tool rounds into its side of the pair (Chosen or
// Rejected: its assistant tool calls and tool results, then its final
// assistant message), and the tools offered into Tools, TRL's column for
// them; the shared prompt stays in Prompt.
type PreferenceRow struct {
	Prompt   []TRLMessage `json:"prompt"`
	Chosen   []TRLMessage `json:"chosen"`
	Rejected []TRLMessage `json:"rejected"`
	Tools    []chat.Tool  `json:"tools,omitempty"`
}

// KTORow is one row of FormatKTO; Completion holds the answer's tool
// rounds before its final message.
type KTORow struct {
	Prompt     []TRLMessage `json:"prompt"`
	Completion []TRLMessage `json:"completion"`
	Label      bool         `json:"label"`
	Tools      []chat.Tool  `json:"tools,omitempty"`
}

// SFTRow is one row of FormatSFT: the prompt, the answer's tool rounds and
// its final message.
type SFTRow struct {
	Messages []TRLMessage `json:"messages"`
	Tools    []chat.Tool  `json:"tools,omitempty"`
}

// RawRow is one row of FormatRaw: an answer as stored, with its votes and
// the A/B choices it took part in.
type RawRow struct {
	ID        string    `json:"id"`
	GroupID   string    `json:"group_id"`
	Platform  string    `json:"platform"`
	ChatID    string    `json:"chat_id"`
	AskerHash string    `json:"asker_hash,omitempty"`
	Created   time.Time `json:"created"`
	Prompt    []Message `json:"prompt"`
	// Tools and Steps are the tools offered and the answer's tool rounds
	// (assistant tool calls and tool results, in order, as the model saw
	// them), in the OpenAI shape; absent for plain chat.
	Tools        []chat.Tool `json:"tools,omitempty"`
	Steps        []Message   `json:"steps,omitempty"`
	Text         string      `json:"text"`
	Label        string      `json:"label,omitempty"`
	Sampling     sampling    `json:"sampling"`
	Model        modelInfo   `json:"model"`
	PromptTokens int         `json:"prompt_tokens"`
	AnswerTokens int         `json:"answer_tokens"`
	LatencyMS    float64     `json:"latency_ms"`
	Truncated    bool        `json:"truncated"`
	Finished     bool        `json:"finished"`
	Sent         bool        `json:"sent"`
	Score        *float64    `json:"score,omitempty"`
	MessageIDs   []string    `json:"message_ids,omitempty"`
	Up           int         `json:"up"`
	Down         int         `json:"down"`
	Votes        []RawVote   `json:"votes"`
	// VoteHistory is every vote, change and removal (value 0) on the
	// answer, oldest first; Votes are the ones that count.
	VoteHistory []RawVote  `json:"vote_history,omitempty"`
	Choices     []RawPick  `json:"choices,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// RawVote is one vote in a RawRow.
type RawVote struct {
	VoterHash string    `json:"voter_hash"`
	Value     int       `json:"value"`
	Time      time.Time `json:"time"`
}

// RawPick is one A/B choice in a RawRow.
type RawPick struct {
	Winner    string    `json:"winner"`
	Loser     string    `json:"loser"`
	VoterHash string    `json:"voter_hash"`
	Time      time.Time `json:"time"`
}

// tally counts the votes on one answer.
type tally struct {
	up, down int
	list     []RawVote
}

func (t *tally) net() int {
	if t == nil {
		return 0
	}
	return t.up - t.down
}

func (t *tally) votes() int {
	if t == nil {
		return 0
	}
	return t.up + t.down
}

// snapshot is what one read transaction knows about votes and choices.
type snapshot struct {
	tx      *bolt.Tx
	tallies map[string]*tally
	picks   map[string][]RawPick // by answer id, for raw rows
	history map[string][]RawVote // by answer id, for raw rows
}

// readSnapshot tallies the votes; keepVotes also lists each vote (without
// its voter unless keepVoters) and collects the A/B choices by answer.
func readSnapshot(tx *bolt.Tx, keepVotes, keepVoters bool) (*snapshot, error) {
	sn := &snapshot{tx: tx, tallies: map[string]*tally{}, picks: map[string][]RawPick{}}
	c := tx.Bucket(bucketVotes).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id, voter, err := readPart(k)
		if err != nil {
			return nil, err
		}
		value, at, err := decodeVote(v)
		if err != nil {
			return nil, err
		}
		t := sn.tallies[id]
		if t == nil {
			t = &tally{}
			sn.tallies[id] = t
		}
		switch value {
		case 1:
			t.up++
		case -1:
			t.down++
		}
		if keepVotes {
			v := RawVote{Value: value, Time: at}
			if keepVoters {
				v.VoterHash = string(voter)
			}
			t.list = append(t.list, v)
		}
	}
	if keepVotes {
		err := forEachChoice(tx, func(a, b, voter, winner string, at time.Time) error {
			loser := a
			if winner == a {
				loser = b
			}
			p := RawPick{Winner: winner, Loser: loser, VoterHash: voter, Time: at}
			sn.picks[a] = append(sn.picks[a], p)
			sn.picks[b] = append(sn.picks[b], p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if keepVotes && keepVoters {
		var err error
		if sn.history, err = voteHistory(tx); err != nil {
			return nil, err
		}
	}
	return sn, nil
}

func forEachChoice(tx *bolt.Tx, fn func(a, b, voter, winner string, at time.Time) error) error {
	c := tx.Bucket(bucketChoices).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a, rest, err := readPart(k)
		if err != nil {
			return err
		}
		b, voter, err := readPart(rest)
		if err != nil {
			return err
		}
		winner, at, err := decodeChoice(v)
		if err != nil {
			return err
		}
		if winner != a && winner != b {
			return fmt.Errorf("%w: choice between %q and %q names winner %q", ErrCorrupt, a, b, winner)
		}
		if err := fn(a, b, string(voter), winner, at); err != nil {
			return err
		}
	}
	return nil
}

func assistant(text string) []Message {
	return []Message{{Role: "assistant", Content: text}}
}

// samePrompt reports whether two answers saw the same prompt and were
// offered the same tools.
func samePrompt(a, b *answerRecord) bool {
	return slices.EqualFunc(a.Prompt, b.Prompt, bot.Turn.Equal) && promptHash(nil, a.Tools) == promptHash(nil, b.Tools)
}

// preferencePairs calls emit with the ids of every preference pair,
// chosen first: first sibling pairs group by group, then A/B choices,
// skipping a choice pair that repeats a sibling pair. It reads the
// answers' summaries, never their records.
func (sn *snapshot) preferencePairs(ctx context.Context, o ExportOptions, emit func(chosen, rejected string) error) error {
	seen := map[[2]string]bool{}
	var group string
	var members []summary // the current group's answers
	err := forEachSummary(sn.tx, func(g string, s summary) error {
		if g != group {
			if err := sn.siblingPairs(ctx, o, members, seen, emit); err != nil {
				return err
			}
			members, group = members[:0], g
		}
		members = append(members, s)
		return nil
	})
	if err != nil {
		return err
	}
	if err := sn.siblingPairs(ctx, o, members, seen, emit); err != nil {
		return err
	}
	return sn.choicePairs(o, seen, emit)
}

// siblingPairs emits the pairs within one prompt group: answers to the
// identical prompt with different net scores, better first. seen records
// them for choicePairs.
func (sn *snapshot) siblingPairs(ctx context.Context, o ExportOptions, members []summary, seen map[[2]string]bool, emit func(chosen, rejected string) error) error {
	if len(members) < 2 {
		return nil
	}
	kept := make([]*summary, 0, len(members))
	for i := range members {
		if o.keepsFacts(members[i].facts, sn.tallies[members[i].id]) {
			kept = append(kept, &members[i])
		}
	}
	for i := range kept {
		for j := i + 1; j < len(kept); j++ {
			a, b := kept[i], kept[j]
			na, nb := sn.tallies[a.id].net(), sn.tallies[b.id].net()
			if na == nb || a.promptHash != b.promptHash {
				continue
			}
			if na < nb {
				a, b = b, a
			}
			seen[[2]string{a.id, b.id}] = true
			if err := emit(a.id, b.id); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// choicePairs emits the pairs A/B choices decide, skipping those seen
// among siblings.
func (sn *snapshot) choicePairs(o ExportOptions, seen map[[2]string]bool, emit func(chosen, rejected string) error) error {
	// A/B choices: keys of one comparison are adjacent.
	var curA, curB string
	wins := map[string]int{}
	flushChoice := func() error {
		if curA == "" {
			return nil
		}
		wa, wb := wins[curA], wins[curB]
		clear(wins)
		if wa == wb || wa+wb < o.MinVotes {
			return nil
		}
		chosen, rejected := curA, curB
		if wb > wa {
			chosen, rejected = curB, curA
		}
		if seen[[2]string{chosen, rejected}] {
			return nil
		}
		rc, err := getAnswer(sn.tx, chosen)
		if err != nil {
			return err
		}
		rr, err := getAnswer(sn.tx, rejected)
		if err != nil {
			return err
		}
		noVotes := o
		noVotes.MinVotes = 0
		if !noVotes.keeps(rc, nil) || !noVotes.keeps(rr, nil) || !samePrompt(rc, rr) {
			return nil
		}
		seen[[2]string{chosen, rejected}] = true
		return emit(chosen, rejected)
	}
	err := forEachChoice(sn.tx, func(a, b, voter, winner string, at time.Time) error {
		if a != curA || b != curB {
			if err := flushChoice(); err != nil {
				return err
			}
			curA, curB = a, b
		}
		wins[winner]++
		return nil
	})
	if err != nil {
		return err
	}
	return flushChoice()
}

// eachAnswer calls fn with every answer the options keep, in id order.
// want, when not nil, skips an answer by its votes alone before it is
// decoded.
func (sn *snapshot) eachAnswer(ctx context.Context, o ExportOptions, want func(t *tally) bool, fn func(r *answerRecord, t *tally) error) error {
	c := sn.tx.Bucket(bucketAnswers).Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		t := sn.tallies[string(k)]
		if t.votes() < o.MinVotes || (want != nil && !want(t)) {
			continue
		}
		r, err := decodeAnswer(v)
		if err != nil {
			return fmt.Errorf("answer %q: %w", k, err)
		}
		if !o.keeps(r, t) {
			continue
		}
		if err := fn(r, t); err != nil {
			return err
		}
	}
	return nil
}

func sftEligible(r *answerRecord, t *tally, minScore int) bool {
	return r.Finished && !r.Truncated && t.net() >= minScore
}

// rows produces the rows of the format o.Format, calling emit with each.
func (sn *snapshot) rows(ctx context.Context, o ExportOptions, emit func(row any) error) error {
	switch o.Format {
	case FormatPreference, FormatOpenAIDPO:
		perUser := map[string]int{}
		return sn.preferencePairs(ctx, o, func(cid, rid string) error {
			chosen, err := getAnswer(sn.tx, cid)
			if err != nil {
				return err
			}
			if o.MaxPairsPerUser > 0 {
				// One person's questions cannot dominate the pairs.
				if perUser[chosen.AskerHash] >= o.MaxPairsPerUser {
					return nil
				}
				perUser[chosen.AskerHash]++
			}
			rejected, err := getAnswer(sn.tx, rid)
			if err != nil {
				return err
			}
			if o.Format == FormatOpenAIDPO {
				return emit(OpenAIDPORow{
					Input:              OpenAIInput{Messages: openAIMessages(chosen.Prompt), Tools: chosen.Tools},
					PreferredOutput:    openAIMessages(completion(chosen)),
					NonPreferredOutput: openAIMessages(completion(rejected)),
				})
			}
			return emit(PreferenceRow{Prompt: trlMessages(chosen.Prompt), Chosen: trlMessages(completion(chosen)), Rejected: trlMessages(completion(rejected)), Tools: chosen.Tools})
		})
	case FormatKTO:
		voted := func(t *tally) bool { return t.net() != 0 }
		return sn.eachAnswer(ctx, o, voted, func(r *answerRecord, t *tally) error {
			return emit(KTORow{Prompt: trlMessages(r.Prompt), Completion: trlMessages(completion(r)), Label: t.net() > 0, Tools: r.Tools})
		})
	case FormatSFT, FormatOpenAISFT:
		good := func(t *tally) bool { return t.net() >= o.MinScore }
		return sn.eachAnswer(ctx, o, good, func(r *answerRecord, t *tally) error {
			if !sftEligible(r, t, o.MinScore) {
				return nil
			}
			msgs := append(slices.Clip(r.Prompt), completion(r)...)
			if o.Format == FormatOpenAISFT {
				return emit(OpenAISFTRow{Messages: openAIMessages(msgs), Tools: r.Tools})
			}
			return emit(SFTRow{Messages: trlMessages(msgs), Tools: r.Tools})
		})
	case FormatRaw:
		return sn.eachAnswer(ctx, o, nil, func(r *answerRecord, t *tally) error {
			row := RawRow{
				ID: r.ID, GroupID: r.GroupID, Platform: r.Platform, ChatID: r.ChatID,
				AskerHash: r.AskerHash, Created: r.Created, Prompt: r.Prompt,
				Tools: r.Tools, Steps: r.Steps, Text: r.Text, Label: r.Label, Sampling: r.Sampling, Model: r.Model,
				PromptTokens: r.PromptTok, AnswerTokens: r.AnswerTok,
				LatencyMS: float64(r.LatencyNS) / 1e6, Truncated: r.Truncated,
				Finished: r.Finished, Sent: r.Sent, Score: r.Score, MessageIDs: r.MessageIDs,
				Votes: []RawVote{}, Choices: sn.picks[r.ID], FinishedAt: r.FinishedAt,
				VoteHistory: sn.history[r.ID],
			}
			if t != nil {
				row.Up, row.Down = t.up, t.down
				row.Votes = append(row.Votes, t.list...)
				sort.SliceStable(row.Votes, func(i, j int) bool {
					if !row.Votes[i].Time.Equal(row.Votes[j].Time) {
						return row.Votes[i].Time.Before(row.Votes[j].Time)
					}
					return row.Votes[i].VoterHash < row.Votes[j].VoterHash
				})
			}
			sort.SliceStable(row.Choices, func(i, j int) bool {
				if !row.Choices[i].Time.Equal(row.Choices[j].Time) {
					return row.Choices[i].Time.Before(row.Choices[j].Time)
				}
				return row.Choices[i].VoterHash < row.Choices[j].VoterHash
			})
			return emit(row)
		})
	}
	return fmt.Errorf("%w: format %q", ErrInvalid, o.Format)
}

// Export writes the rows of o.Format as JSON lines to w, from one
// consistent snapshot of the database, and returns how many it wrote.
func (s *Store) Export(ctx context.Context, w io.Writer, o ExportOptions) (int, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		sn, err := readSnapshot(tx, o.Format == FormatRaw, true)
		if err != nil {
			return err
		}
		return sn.rows(ctx, o, func(row any) error {
			n++
			return enc.Encode(row)
		})
	})
	if err != nil {
		return n, fmt.Errorf("exporting %s: %w", o.Format, err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("exporting %s: %w", o.Format, err)
	}
	return n, nil
}

// Stats summarises the store.
type Stats struct {
	SchemaVersion int `json:"schema_version"`
	Answers       int `json:"answers"`
	// Votes counts the votes held (one per voter per answer).
	Votes   int `json:"votes"`
	Up      int `json:"up"`
	Down    int `json:"down"`
	Choices int `json:"choices"`
	// Rows each export format would write with no filters (SFT with
	// min-score 1).
	Pairs   int `json:"preference_pairs"`
	KTORows int `json:"kto_rows"`
	SFTRows int `json:"sft_rows"`
	// ByModel counts answers per model and the votes on them; ByDay
	// counts answers created and votes cast per UTC day.
	ByModel []StatsRow `json:"by_model"`
	ByDay   []StatsRow `json:"by_day"`
	// Versions is the approval table per model version (see
	// VersionStats).
	Versions []VersionStat `json:"versions"`
	// VotesByDay counts the votes cast per UTC day and platform, oldest
	// first.
	VotesByDay []DayVotes `json:"votes_by_day"`
	// DemoAnswers counts the demo backend's answers left out of every
	// other figure (0 when StatsOptions.IncludeDemo).
	DemoAnswers int `json:"demo_answers"`
}

// StatsOptions chooses what Stats counts.
type StatsOptions struct {
	// IncludeDemo counts the demo backend's answers and their votes too.
	IncludeDemo bool `json:"include_demo,omitempty"`
}

// DayVotes counts one platform's votes cast on one UTC day.
type DayVotes struct {
	Day      string `json:"day"` // 2026-03-01
	Platform string `json:"platform"`
	Up       int    `json:"up"`
	Down     int    `json:"down"`
}

// StatsRow is one line of a breakdown.
type StatsRow struct {
	Key     string `json:"key"`
	Answers int    `json:"answers"`
	Up      int    `json:"up"`
	Down    int    `json:"down"`
	// Approval is up/(up+down), absent when nobody voted.
	Approval *float64 `json:"approval,omitempty"`
}

// ModelKey names a model in stats: its name and quantization.
func modelKey(m modelInfo) string {
	name := m.Name
	if name == "" {
		name = "(unknown)"
	}
	if m.Quantization != "" {
		name += " " + m.Quantization
	}
	return name
}

// Stats counts answers, votes and the training rows available, leaving
// out the demo backend's answers (StatsWith with the default options).
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	return s.StatsWith(ctx, StatsOptions{})
}

// StatsWith counts answers, votes and the training rows available, as o
// says.
func (s *Store) StatsWith(ctx context.Context, o StatsOptions) (Stats, error) {
	var st Stats
	st.SchemaVersion = SchemaVersion
	byModel := map[string]*StatsRow{}
	byDay := map[string]*StatsRow{}
	byVersion := map[string]*VersionCount{}
	var ab abTally
	votesByDay := map[[2]string]*DayVotes{}
	row := func(m map[string]*StatsRow, k string) *StatsRow {
		r := m[k]
		if r == nil {
			r = &StatsRow{Key: k}
			m[k] = r
		}
		return r
	}
	countPair := func(string, string) error {
		st.Pairs++
		return nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		sn, err := readSnapshot(tx, true, false) // stats need when, not who
		if err != nil {
			return err
		}
		all := ExportOptions{IncludeDemo: o.IncludeDemo}
		// The A/B record per version: which answers the choices involve
		// first, their versions in the pass over the summaries.
		err = forEachChoice(tx, func(a, b, _, winner string, _ time.Time) error {
			st.Choices++
			ab.choice(a, b, winner)
			return nil
		})
		if err != nil {
			return err
		}
		days := dayNames{}
		seen := map[[2]string]bool{}
		var group string
		var members []summary
		n := 0
		err = forEachSummary(tx, func(g string, r summary) error {
			// Pairs, group by group, in the same pass.
			if g != group {
				if err := sn.siblingPairs(ctx, all, members, seen, countPair); err != nil {
					return err
				}
				members, group = members[:0], g
			}
			members = append(members, r)
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			t := sn.tallies[r.id]
			if r.backend == BackendDemo && !o.IncludeDemo {
				st.DemoAnswers++
				return nil
			}
			st.Answers++
			ab.answer(r.id, r.version)
			m := row(byModel, r.modelKey)
			m.Answers++
			row(byDay, days.of(r.created)).Answers++
			vc := byVersion[r.version]
			if vc == nil {
				vc = &VersionCount{Version: r.version}
				byVersion[r.version] = vc
			}
			vc.Answers++
			if t == nil {
				return nil
			}
			m.Up += t.up
			m.Down += t.down
			vc.Up += t.up
			vc.Down += t.down
			for _, v := range t.list {
				day := days.of(v.Time)
				d := row(byDay, day)
				pd := votesByDay[[2]string{day, r.platform}]
				if pd == nil {
					pd = &DayVotes{Day: day, Platform: r.platform}
					votesByDay[[2]string{day, r.platform}] = pd
				}
				if v.Value > 0 {
					d.Up++
					pd.Up++
				} else {
					d.Down++
					pd.Down++
				}
			}
			st.Up += t.up
			st.Down += t.down
			if t.net() != 0 {
				st.KTORows++
			}
			if r.finished && !r.truncated && t.net() >= 1 {
				st.SFTRows++
			}
			return nil
		})
		if err != nil {
			return err
		}
		st.Votes = st.Up + st.Down
		if err := sn.siblingPairs(ctx, all, members, seen, countPair); err != nil {
			return err
		}
		return sn.choicePairs(all, seen, countPair)
	})
	if err != nil {
		return Stats{}, fmt.Errorf("feedback stats: %w", err)
	}
	st.ByModel = sortedRows(byModel)
	st.ByDay = sortedRows(byDay)
	ab.addTo(byVersion)
	counts := make([]VersionCount, 0, len(byVersion))
	for _, c := range byVersion {
		counts = append(counts, *c)
	}
	st.Versions = VersionStats(counts)
	st.VotesByDay = make([]DayVotes, 0, len(votesByDay))
	for _, d := range votesByDay {
		st.VotesByDay = append(st.VotesByDay, *d)
	}
	sort.Slice(st.VotesByDay, func(i, j int) bool {
		a, b := st.VotesByDay[i], st.VotesByDay[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		return a.Platform < b.Platform
	})
	return st, nil
}

// dayNames formats UTC days once each: stats name the day of every
// answer and vote, and formatting a time costs more than a map lookup.
type dayNames map[int64]string

func (d dayNames) of(t time.Time) string {
	sec := t.Unix()
	day := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		day--
	}
	name, ok := d[day]
	if !ok {
		name = t.UTC().Format(time.DateOnly)
		d[day] = name
	}
	return name
}

func sortedRows(m map[string]*StatsRow) []StatsRow {
	out := make([]StatsRow, 0, len(m))
	for _, r := range m {
		if n := r.Up + r.Down; n > 0 {
			a := float64(r.Up) / float64(n)
			r.Approval = &a
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Backup writes a consistent copy of the whole database file to w (bbolt's
// Tx.WriteTo) while other goroutines keep reading and writing.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backing up the feedback database: %w", err)
	}
	return n, nil
}
