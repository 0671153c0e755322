package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/feedback"
	"github.com/chatloop/chatloop/feedback/socket"
)

func init() {
	commands = append(commands, newFeedbackCommand)
}

// feedbackService is what the feedback commands need: the store itself,
// or a client of the running chatloop that holds it.
type feedbackService interface {
	StatsWith(ctx context.Context, o feedback.StatsOptions) (feedback.Stats, error)
	Export(ctx context.Context, w io.Writer, o feedback.ExportOptions) (int, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
	Forget(ctx context.Context, platform string, user bot.UserID, prompts bool) (feedback.Forgotten, error)
}

// feedbackOpenTimeout is how long the commands wait for the file lock
// before asking the process that holds it over its socket.
const feedbackOpenTimeout = 300 * time.Millisecond

type feedbackFlags struct {
	db, socket string
}

func (f *feedbackFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.db, "db", "", "feedback database file (default: [feedback] db)")
	cmd.Flags().StringVar(&f.socket, "socket", "", `socket of a running chatloop holding the database (default: [feedback] socket, else "<db>.sock")`)
}

// feedbackPaths resolves the database file and socket from the flags and
// the configuration.
func (a *app) feedbackPaths(cmd *cobra.Command, f *feedbackFlags) (db, sock string, err error) {
	cfg, err := a.config(cmd)
	if err != nil {
		return "", "", err
	}
	if f.db != "" {
		cfg.Feedback.DB = f.db
	}
	if f.socket != "" {
		cfg.Feedback.Socket = f.socket
	}
	if cfg.Feedback.DB == "" {
		return "", "", errors.New("no feedback database: give --db FILE or set db in [feedback]")
	}
	return cfg.Feedback.DB, socketPath(cfg), nil
}

// openFeedback opens the database, or when another process holds it, a
// client of that process's socket. done releases what it opened.
func (a *app) openFeedback(cmd *cobra.Command, f *feedbackFlags, readOnly bool) (svc feedbackService, where string, done func(), err error) {
	path, sock, err := a.feedbackPaths(cmd, f)
	if err != nil {
		return nil, "", nil, err
	}
	return a.openFeedbackAt(path, sock, readOnly)
}

// openFeedbackAt opens the database at path, or, when another process
// holds it, a client of that process's socket sock.
func (a *app) openFeedbackAt(path, sock string, readOnly bool) (svc feedbackService, where string, done func(), err error) {
	if readOnly {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, "", nil, fmt.Errorf("no feedback database at %s (chatloop chat and chatloop run create it; give another with --db)", path)
		}
	}
	s, err := feedback.Open(path, feedback.Options{Timeout: feedbackOpenTimeout, ReadOnly: readOnly})
	if err == nil {
		return s, path, func() { s.Close() }, nil
	}
	if !errors.Is(err, feedback.ErrLocked) {
		return nil, "", nil, err
	}
	a.logger().Debug("feedback database is held; asking the process that holds it", "socket", sock)
	return &lockedClient{c: socket.NewClient(sock), db: path}, path + " (via " + sock + ")", func() {}, nil
}

// lockedClient explains ErrNoServer: the file is held and nobody answers.
type lockedClient struct {
	c  *socket.Client
	db string
}

func (l *lockedClient) explain(err error) error {
	if errors.Is(err, socket.ErrNoServer) {
		return fmt.Errorf("%s is held by another process (probably a running `chatloop run`), and no chatloop answers on its socket: %w", l.db, err)
	}
	return err
}

func (l *lockedClient) StatsWith(ctx context.Context, o feedback.StatsOptions) (feedback.Stats, error) {
	st, err := l.c.StatsWith(ctx, o)
	return st, l.explain(err)
}

func (l *lockedClient) Export(ctx context.Context, w io.Writer, o feedback.ExportOptions) (int, error) {
	n, err := l.c.Export(ctx, w, o)
	return n, l.explain(err)
}

func (l *lockedClient) Backup(ctx context.Context, w io.Writer) (int64, error) {
	n, err := l.c.Backup(ctx, w)
	return n, l.explain(err)
}

func (l *lockedClient) Forget(ctx context.Context, platform string, user bot.UserID, prompts bool) (feedback.Forgotten, error) {
	f, err := l.c.Forget(ctx, platform, user, prompts)
	return f, l.explain(err)
}

func newFeedbackCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Statistics, training-data export, privacy removal and backup of the feedback database",
		Long: `The feedback database holds every answer, vote and A/B choice. These
commands read it directly, or, while "chatloop run" holds it, ask the
running process over a local socket only this user can open.`,
	}
	cmd.AddCommand(
		newFeedbackStatsCommand(a),
		newFeedbackExportCommand(a),
		newFeedbackForgetCommand(a),
		newFeedbackBackupCommand(a),
		newFeedbackCheckCommand(a),
		newFeedbackSalvageCommand(a),
	)
	return cmd
}

func newFeedbackStatsCommand(a *app) *cobra.Command {
	var f feedbackFlags
	var asJSON bool
	var o feedback.StatsOptions
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Count answers, votes, approval by model and by day, and training rows available",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, where, done, err := a.openFeedback(cmd, &f, true)
			if err != nil {
				return err
			}
			defer done()
			st, err := svc.StatsWith(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			return writeStats(cmd.OutOrStdout(), where, st)
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	cmd.Flags().BoolVar(&o.IncludeDemo, "include-demo", false, "count the demo backend's answers too (left out by default)")
	return cmd
}

func approval(up, down int) string {
	if up+down == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(up)/float64(up+down))
}

func writeStats(w io.Writer, where string, st feedback.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "database\t%s (schema %d)\n", where, st.SchemaVersion)
	fmt.Fprintf(tw, "answers\t%d\n", st.Answers)
	fmt.Fprintf(tw, "votes\t%d (%d up, %d down, approval %s)\n", st.Votes, st.Up, st.Down, approval(st.Up, st.Down))
	fmt.Fprintf(tw, "A/B choices\t%d\n", st.Choices)
	fmt.Fprintf(tw, "preference pairs\t%d\n", st.Pairs)
	fmt.Fprintf(tw, "KTO rows\t%d\n", st.KTORows)
	fmt.Fprintf(tw, "SFT rows\t%d (net score >= 1)\n", st.SFTRows)
	if st.DemoAnswers > 0 {
		fmt.Fprintf(tw, "demo answers\t%d left out (--include-demo counts them)\n", st.DemoAnswers)
	}
	for _, part := range []struct {
		title string
		rows  []feedback.StatsRow
	}{{"by model", st.ByModel}, {"by day", st.ByDay}} {
		if len(part.rows) == 0 {
			continue
		}
		fmt.Fprintf(tw, "\n%s\tanswers\tup\tdown\tapproval\n", part.title)
		for _, r := range part.rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Key, r.Answers, r.Up, r.Down, approval(r.Up, r.Down))
		}
	}
	if len(st.Versions) > 0 {
		fmt.Fprintf(tw, "\nmodel version\tanswers\tup\tdown\tapproval\t95%% interval\n")
		for _, v := range st.Versions {
			interval := "-"
			if v.Votes > 0 {
				interval = fmt.Sprintf("%.1f%% – %.1f%%", 100*v.Low, 100*v.High)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", v.Version, v.Answers, v.Up, v.Down, approval(v.Up, v.Down), interval)
		}
		writeABRecords(tw, st.Versions)
	}
	return tw.Flush()
}

func newFeedbackExportCommand(a *app) *cobra.Command {
	var f feedbackFlags
	var o feedback.ExportOptions
	var out, since, until string
	var noScrub bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export training data as JSONL in Hugging Face TRL's conversational formats",
		Long: `Export training data as JSON lines, in the formats Hugging Face TRL reads:

  preference  {"prompt":[…],"chosen":[…],"rejected":[…]}  pairs of answers to the
              identical prompt with different net scores, and A/B choices; ties skipped
  kto         {"prompt":[…],"completion":[…],"label":true|false}  every voted answer
              with a non-zero net score
  sft         {"messages":[…]}  finished, complete answers with net score >= --min-score
  raw         every answer with its votes and choices, people as keyed hashes
  openai-dpo  {"input":{"messages":[…]},"preferred_output":[…],"non_preferred_output":[…]}
              OpenAI's preference fine-tuning format, the preference pairs
  openai-sft  {"messages":[…]}  OpenAI's chat fine-tuning format, the sft rows

Personal data is scrubbed by default: e-mail addresses, phone numbers,
resident ID and bank card numbers, IP addresses, secret URL query values
and @-mentioned names become placeholders (<EMAIL_1>, @[USER_2]), the same
value the same placeholder within a row; a summary goes to standard error.
--no-scrub exports the text as stored.

--since and --until take a date (2026-03-01), an RFC 3339 time, or an age
such as 7d or 36h; they keep answers created in [since, until).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			var err error
			if o.Since, err = parseWhen(since, now); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if o.Until, err = parseWhen(until, now); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			if o.MinVotes < 0 {
				return fmt.Errorf("--min-votes %d: want 0 or more", o.MinVotes)
			}
			if out == "" {
				return errors.New("--out: give a file, or - for standard output")
			}
			if o.MaxPairsPerUser < 0 {
				return fmt.Errorf("--max-pairs-per-user %d: want 0 (no cap) or more", o.MaxPairsPerUser)
			}
			svc, _, done, err := a.openFeedback(cmd, &f, true)
			if err != nil {
				return err
			}
			defer done()
			var n int
			var scrubbed *feedback.ScrubWriter
			export := func(w io.Writer) error {
				var err error
				if noScrub {
					n, err = svc.Export(cmd.Context(), w, o)
					return err
				}
				scrubbed = feedback.NewScrubWriter(w, o.Format)
				if n, err = svc.Export(cmd.Context(), scrubbed, o); err != nil {
					return err
				}
				return scrubbed.Close()
			}
			if out == "-" {
				err = export(cmd.OutOrStdout())
			} else {
				err = writeFileAtomic(out, export)
			}
			if err != nil {
				return err
			}
			rows := "rows"
			if n == 1 {
				rows = "row"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d %s %s to %s\n", n, o.Format, rows, displayPath(out))
			if scrubbed != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "privacy: %s (--no-scrub keeps the text as stored)\n", scrubbed.Summary())
			}
			return nil
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVar(&o.Format, "format", feedback.FormatPreference, "preference, kto, sft, raw, openai-dpo or openai-sft")
	fl.BoolVar(&noScrub, "no-scrub", false, "keep personal data (e-mails, phones, ids, cards, IPs, tokens, @names) as stored")
	fl.IntVar(&o.MaxPairsPerUser, "max-pairs-per-user", 0, "preference, openai-dpo: at most this many pairs from one person's questions (0: no cap)")
	fl.StringVar(&out, "out", "-", "output file (JSONL), - for standard output")
	fl.StringVar(&since, "since", "", "keep answers created at or after this time")
	fl.StringVar(&until, "until", "", "keep answers created before this time")
	fl.StringVar(&o.Platform, "platform", "", "keep one platform's answers (discord, wechat, console, ...)")
	fl.IntVar(&o.MinVotes, "min-votes", 0, "keep answers with at least this many votes (A/B pairs: choices)")
	fl.IntVar(&o.MinScore, "min-score", 1, "sft: the least net score (up minus down) of an answer")
	fl.StringVar(&o.Version, "version", "", `keep one model version's answers, as feedback stats names it ("qwen2.5-0.5b-instruct+tuned-3f2a Q8_0 @3f2a9c0d11e4", or without the " @digest")`)
	fl.StringVar(&o.Model, "model", "", `keep one model's answers: its name, or name and quantization as stats shows ("qwen2.5-0.5b-instruct Q8_0")`)
	fl.StringVar(&o.Backend, "backend", "", "keep one backend's answers: local, openai or demo")
	fl.BoolVar(&o.IncludeDemo, "include-demo", false, "keep the demo backend's answers (labelled echoes, left out by default)")
	return cmd
}

func displayPath(p string) string {
	if p == "-" {
		return "standard output"
	}
	return p
}

// parseWhen reads a --since/--until value: empty, a date, an RFC 3339
// time, or an age before now (7d, 36h, 90m).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100000 {
			return now.AddDate(0, 0, -n), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-03-01), an RFC 3339 time, or an age (7d, 36h)", s)
}

// writeFileAtomic writes a new file through a temporary one beside it,
// mode 0600, and renames it into place only when write succeeded, so a
// failed export or backup never leaves a half file or clobbers an old one.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fileError(path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fileError(path, err)
	}
	if err := write(tmp); err != nil {
		return fileError(path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fileError(path, err)
	}
	if err := tmp.Close(); err != nil {
		return fileError(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fileError(path, err)
	}
	return nil
}

// fileError names path, the file the user asked for, in an error that a
// file operation on its temporary sibling returned: the temporary name
// means nothing to them.
func fileError(path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("writing %s: %w", path, pe.Err)
	case errors.As(err, &le):
		return fmt.Errorf("writing %s: %w", path, le.Err)
	}
	return fmt.Errorf("writing %s: %w", path, err)
}

func newFeedbackForgetCommand(a *app) *cobra.Command {
	var f feedbackFlags
	var user string
	var prompts bool
	cmd := &cobra.Command{
		Use:   "forget",
		Short: "Remove a person's votes (and with --prompts the answers to their questions)",
		Long: `Remove everything one person gave, for a privacy request: their votes and
A/B choices, and with --prompts also the answers to their questions, which
hold their words, together with everyone's votes on those answers.

--user is PLATFORM:ID, with the id in the form the platform's adapter
stores it:

` + userIDFormsHelp() + `

The database holds only keyed hashes of ids; the id is hashed the same
way to find what to remove. An id found nowhere in the database (as a
voter or an asker) is an error that lists these forms.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			platform, id, err := parseUser(user)
			if err != nil {
				return err
			}
			svc, _, done, err := a.openFeedback(cmd, &f, false)
			if err != nil {
				return err
			}
			defer done()
			got, err := svc.Forget(cmd.Context(), platform, id, prompts)
			if err != nil {
				return err
			}
			if !got.Known {
				return unknownUserError(platform, string(id))
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "removed %d votes and %d A/B choices", got.Votes, got.Choices)
			if prompts {
				fmt.Fprintf(w, ", %d answers to their questions (with %d votes by others on them)", got.Answers, got.OtherVotes)
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&user, "user", "", "the person, as PLATFORM:ID")
	cmd.Flags().BoolVar(&prompts, "prompts", false, "also remove the answers to their questions")
	return cmd
}

// parseUser splits PLATFORM:ID at the first colon.
func parseUser(s string) (string, bot.UserID, error) {
	platform, id, ok := strings.Cut(s, ":")
	if !ok || !platformName(platform) || id == "" {
		return "", "", fmt.Errorf("--user %q: want PLATFORM:ID, e.g. discord:80351110224678912", s)
	}
	return platform, bot.UserID(id), nil
}

// platformName reports whether s looks like a platform name: discord,
// wechat, wecom, console (lowercase letters, digits, - and _).
func platformName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func newFeedbackBackupCommand(a *app) *cobra.Command {
	var f feedbackFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database, also while chatloop run uses it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[0]
			db, _, err := a.feedbackPaths(cmd, &f)
			if err != nil {
				return err
			}
			if sameFile(db, dst) {
				return fmt.Errorf("%s is the database itself", dst)
			}
			if _, err := os.Lstat(dst); err == nil && !force {
				return fmt.Errorf("%s exists: give --force to replace it", dst)
			}
			svc, _, done, err := a.openFeedback(cmd, &f, true)
			if err != nil {
				return err
			}
			defer done()
			var n int64
			err = writeFileAtomic(dst, func(w io.Writer) error {
				var err error
				n, err = svc.Backup(cmd.Context(), w)
				return err
			})
			if err != nil {
				return err
			}
			// Prove the copy opens and passes the consistency check.
			c, err := feedback.Open(dst, feedback.Options{ReadOnly: true, Timeout: time.Second})
			if err == nil {
				err = c.Check(cmd.Context())
				c.Close()
			}
			if err != nil {
				return fmt.Errorf("the backup %s does not check out: %w", dst, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %d bytes to %s\n", n, dst)
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
