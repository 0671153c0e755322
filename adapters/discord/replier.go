package discord

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/chatloop/chatloop/bot"
)

// typingRefresh is how often the typing indicator is renewed while an
// answer is being prepared (Discord shows it for about ten seconds).
const typingRefresh = 8 * time.Second

// finishRetries is how many more times the final text is tried when
// Discord fails an edit.
const finishRetries = 3

// typingMax bounds how long the indicator is kept up without text.
const typingMax = 3 * time.Minute

// replier shows the core's output for one incoming message as replies to
// it in its channel (or, for a slash command, as the interaction's
// response).
type replier struct {
	a         *Adapter
	s         *discordgo.Session
	channelID string
	guildID   string
	replyTo   string // the question's message id; "" for none

	// interaction is set for slash commands: notices become its response.
	interaction *discordgo.Interaction

	mu       sync.Mutex
	typing   bool // the typing indicator is being kept up
	shown    bool // an answer's first text is showing: stop typing
	answered bool // the interaction's deferred response has been edited

	// statusMu is held while the status message is posted, edited or
	// taken over by the answer (network calls included), so that the
	// answer never misses it.
	statusMu sync.Mutex
	statusID string // the status message ("🔎 searching: …"); "" for none
}

var (
	_ bot.Replier  = (*replier)(nil)
	_ bot.Typer    = (*replier)(nil)
	_ bot.Statuser = (*replier)(nil)
)

// Status shows what the answer waits on ("🔎 searching: …") as a reply to
// the question, edited with each new status; the answer's first message
// then replaces it (an edit of the same message). Once the answer's text
// shows, or for a slash command, the typing indicator stands in.
func (r *replier) Status(ctx context.Context, text string) error {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.mu.Lock()
	shown := r.shown
	r.mu.Unlock()
	if shown || r.interaction != nil {
		return r.Typing(ctx)
	}
	text = "_" + text + "_"
	if r.statusID == "" {
		m, err := r.post(ctx, text, r.replyTo)
		if err != nil {
			return err
		}
		r.a.notOwn.put(m.ID, "")
		r.statusID = m.ID
		return nil
	}
	_, err := r.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: r.statusID, Channel: r.channelID, Content: &text, AllowedMentions: noMentions(),
	}, discordgo.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("discord: status: %w", err)
	}
	return nil
}

// takeStatus hands the status message, if any, to the caller (which
// holds statusMu) to show other text in.
func (r *replier) takeStatus() string {
	id := r.statusID
	r.statusID = ""
	return id
}

func (a *Adapter) newReplier(s *discordgo.Session, channelID, guildID, replyTo string) *replier {
	return &replier{a: a, s: s, channelID: channelID, guildID: guildID, replyTo: replyTo}
}

// Typing shows "Bot is typing…" until the answer's first text is shown,
// renewing Discord's ten-second indicator in the background.
func (r *replier) Typing(ctx context.Context) error {
	if err := r.s.ChannelTyping(r.channelID, discordgo.WithContext(ctx)); err != nil {
		return fmt.Errorf("discord: typing: %w", err)
	}
	r.mu.Lock()
	start := !r.typing
	r.typing = true
	r.mu.Unlock()
	if start {
		r.a.spawn(func() { r.keepTyping(ctx) })
	}
	return nil
}

// keepTyping renews the typing indicator until text shows, ctx is done or
// typingMax has passed.
func (r *replier) keepTyping(ctx context.Context) {
	t := time.NewTicker(typingRefresh)
	defer t.Stop()
	stop := time.After(typingMax)
	ending := r.a.stopped()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ending:
			return
		case <-stop:
			return
		case <-t.C:
			r.mu.Lock()
			shown := r.shown
			r.mu.Unlock()
			if shown {
				return
			}
			_ = r.s.ChannelTyping(r.channelID, discordgo.WithContext(ctx))
		}
	}
}

// Send shows a notice, split into parts of at most 2,000 characters.
func (r *replier) Send(ctx context.Context, text string) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	parts := bot.SplitReply(text, messageLimit)
	if r.interaction != nil {
		return r.sendInteraction(ctx, parts)
	}
	prev := r.replyTo
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	for i, p := range parts {
		if i == 0 {
			if id := r.takeStatus(); id != "" {
				// The notice (an error, say) replaces the status.
				if _, err := r.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
					ID: id, Channel: r.channelID, Content: &p, AllowedMentions: noMentions(),
				}, discordgo.WithContext(ctx)); err == nil {
					prev = id
					continue
				}
			}
		}
		m, err := r.post(ctx, p, prev)
		if err != nil {
			return err
		}
		r.a.notOwn.put(m.ID, "")
		prev = m.ID
	}
	return nil
}

// sendInteraction shows a slash command's output: the first part replaces
// the deferred "thinking…" response, later ones follow it.
func (r *replier) sendInteraction(ctx context.Context, parts []string) error {
	for _, p := range parts {
		r.mu.Lock()
		first := !r.answered
		r.answered = true
		r.mu.Unlock()
		var err error
		if first {
			_, err = r.s.InteractionResponseEdit(r.interaction, &discordgo.WebhookEdit{
				Content: &p, AllowedMentions: noMentions(),
			}, discordgo.WithContext(ctx))
		} else {
			_, err = r.s.FollowupMessageCreate(r.interaction, true, &discordgo.WebhookParams{
				Content: p, AllowedMentions: noMentions(), Flags: discordgo.MessageFlagsEphemeral,
			}, discordgo.WithContext(ctx))
		}
		if err != nil {
			return fmt.Errorf("discord: command response: %w", withoutURL(err))
		}
	}
	return nil
}

// withoutURL drops the request URL from a transport error: an
// interaction's URL carries its token.
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s (interaction webhook): %w", uerr.Op, uerr.Err)
	}
	return err
}

// post sends one message, as a reply to replyTo when set. The reply is
// sent even if replyTo has been deleted meanwhile.
func (r *replier) post(ctx context.Context, text, replyTo string) (*discordgo.Message, error) {
	send := &discordgo.MessageSend{Content: text, AllowedMentions: noMentions()}
	if replyTo != "" {
		no := false
		send.Reference = &discordgo.MessageReference{
			MessageID: replyTo, ChannelID: r.channelID, GuildID: r.guildID, FailIfNotExists: &no,
		}
	}
	m, err := r.s.ChannelMessageSendComplex(r.channelID, send, discordgo.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("discord: send message: %w", err)
	}
	return m, nil
}

// part is one message an answer is shown as.
type part struct {
	id      string
	content string
}

// answerView is an answer being streamed: its text so far and the
// messages showing it.
type answerView struct {
	r     *replier
	out   bot.Outgoing
	label string
	text  strings.Builder
	parts []part
	err   error // the last failed request
}

// Stream shows an answer as a reply that is edited as tokens arrive, at
// most once per edit interval, continued in follow-up messages (each a
// reply to the part before) past 2,000 characters. When the answer is
// complete the vote controls are added under its last message.
func (r *replier) Stream(ctx context.Context, out bot.Outgoing, tokens <-chan string) error {
	v := &answerView{r: r, out: out, label: labelPrefix(out.Label)}
	interval := r.a.cfg.editInterval()
	edit := time.NewTicker(interval)
	defer edit.Stop()
	dirty, first := false, false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-edit.C:
			if dirty {
				dirty = !v.flush(ctx)
			}
		case tok, ok := <-tokens:
			if !ok {
				return v.finish(ctx)
			}
			v.text.WriteString(tok)
			dirty = true
			if !first && strings.TrimSpace(v.text.String()) != "" {
				// First text: show it at once, then edit on the ticker.
				first = true
				dirty = !v.flush(ctx) // else retried on the ticker
				edit.Reset(interval)
			}
		}
	}
}

// finish shows the complete text, retrying a few times if Discord failed
// some edits, and adds the vote controls.
func (v *answerView) finish(ctx context.Context) error {
	if strings.TrimSpace(v.text.String()) == "" {
		v.text.WriteString("_(empty answer)_")
	}
	for try := 0; !v.flush(ctx) && try < finishRetries; try++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(v.r.a.cfg.editInterval()):
		}
	}
	if len(v.parts) == 0 {
		return fmt.Errorf("discord: the answer could not be posted: %w", v.err)
	}
	last := v.parts[len(v.parts)-1].id
	for _, e := range v.controls() {
		if err := v.r.s.MessageReactionAdd(v.r.channelID, last, e, discordgo.WithContext(ctx)); err != nil {
			v.r.a.log.Warn("adding a reaction", "err", err)
		}
	}
	return nil
}

// controls are the reactions offered under an answer.
func (v *answerView) controls() []string {
	if !v.out.Feedback {
		return nil
	}
	switch v.out.Label {
	case "A":
		return []string{emojiA}
	case "B":
		return []string{emojiB}
	}
	var e []string
	if v.r.a.cfg.VoteReactions {
		e = append(e, emojiUp, emojiDown)
	}
	if v.r.a.cfg.RegenReaction {
		e = append(e, emojiRegen)
	}
	return e
}

// flush brings the messages up to date with the text: parts whose content
// changed are edited, new parts are posted. A part deleted by someone is
// posted again, so the answer stays whole. It reports whether every part
// now shows its text; the last failure is kept in v.err.
func (v *answerView) flush(ctx context.Context) bool {
	full := v.label + v.text.String()
	if strings.TrimSpace(full) == "" {
		return true
	}
	ok := true
	for i, c := range bot.SplitReply(full, messageLimit) {
		if i < len(v.parts) {
			if v.parts[i].content == c {
				continue
			}
			_, err := v.r.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
				ID: v.parts[i].id, Channel: v.r.channelID, Content: &c, AllowedMentions: noMentions(),
			}, discordgo.WithContext(ctx))
			switch {
			case err == nil:
				v.parts[i].content = c
			case isUnknownMessage(err):
				v.r.a.log.Info("an answer message was deleted; posting it again")
				v.r.a.answers.forget(v.parts[i].id)
				m, perr := v.r.post(ctx, c, v.replyTarget(i))
				if perr != nil {
					v.fail("re-posting a deleted answer part", perr)
					ok = false
					continue
				}
				v.parts[i] = part{id: m.ID, content: c}
				v.sent(m.ID)
			default:
				v.fail("editing an answer", err)
				ok = false
			}
			continue
		}
		m, err := v.postPart(ctx, i, c)
		if err != nil {
			v.fail("posting an answer part", err)
			return false // the later parts must wait for this one
		}
		v.parts = append(v.parts, part{id: m.ID, content: c})
		v.sent(m.ID)
		v.r.mu.Lock()
		v.r.shown = true
		v.r.mu.Unlock()
	}
	return ok
}

// postPart posts part i of the answer; the first takes over the status
// message when there is one, as an edit.
func (v *answerView) postPart(ctx context.Context, i int, c string) (*discordgo.Message, error) {
	if i == 0 {
		v.r.statusMu.Lock()
		defer v.r.statusMu.Unlock()
		if id := v.r.takeStatus(); id != "" {
			m, err := v.r.s.ChannelMessageEditComplex(&discordgo.MessageEdit{
				ID: id, Channel: v.r.channelID, Content: &c, AllowedMentions: noMentions(),
			}, discordgo.WithContext(ctx))
			if err == nil {
				v.r.a.notOwn.forget(id)
				return m, nil
			}
			v.r.a.log.Info("the status message could not become the answer; posting it anew", "err", err)
		}
	}
	return v.r.post(ctx, c, v.replyTarget(i))
}

// fail logs a failed request and keeps it for finish.
func (v *answerView) fail(what string, err error) {
	v.err = err
	v.r.a.log.Warn(what, "err", err)
}

// replyTarget is what part i replies to: the question for the first part,
// the part before for the others.
func (v *answerView) replyTarget(i int) string {
	if i == 0 {
		return v.r.replyTo
	}
	return v.parts[i-1].id
}

// sent records a new message of the answer, for the core and for
// reactions.
func (v *answerView) sent(id string) {
	v.r.a.answers.put(id, v.r.replyTo)
	if v.out.Sent != nil {
		v.out.Sent(bot.MessageID(id))
	}
}

// labelPrefix marks the alternatives of an A/B comparison.
func labelPrefix(label string) string {
	switch label {
	case "A":
		return emojiA + " "
	case "B":
		return emojiB + " "
	case "":
		return ""
	}
	return "**" + label + "** "
}

// stripLabel removes an A/B mark from the start of one of the bot's
// messages.
func stripLabel(s string) string {
	for _, l := range []string{"A", "B"} {
		if p := labelPrefix(l); strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}
