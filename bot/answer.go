package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// run handles one job on its session. Only one job of a session runs at a
// time, so the session's fields need no lock here.
func (c *Core) run(s *session, j *job) {
	ctx := j.ctx
	if j.regen != "" {
		c.regenerate(ctx, s, j.msg, j.regen, j.replier)
		return
	}
	m := j.msg
	cmd, arg := parseCommand(m.Text)
	switch cmd {
	case cmdHelp:
		c.send(ctx, j.replier, phrase(m.Text, helpEN, helpZH))
		return
	case cmdReset:
		s.history, s.last, s.lastPair = nil, "", [2]AnswerID{}
		c.send(ctx, j.replier, phrase(m.Text, "Our conversation is cleared.", "对话已清空。"))
		return
	case cmdGood, cmdBad:
		c.voteLast(ctx, s, m, cmd == cmdGood, j.replier)
		return
	case cmdRegen:
		if s.last == "" {
			c.send(ctx, j.replier, phrase(m.Text, "There is no answer to regenerate yet.", "还没有可以重新生成的回答。"))
			return
		}
		c.regenerate(ctx, s, m, s.last, j.replier)
		return
	case cmdPersona:
		c.persona(ctx, m, arg, j.replier)
		return
	case cmdOptOut, cmdOptIn:
		c.setConsent(ctx, m, cmd == cmdOptOut, j.replier)
		return
	}
	if s.lastPair[0] != "" {
		if choice := strings.ToUpper(strings.TrimSpace(m.Text)); choice == "A" || choice == "B" {
			c.chooseInSession(ctx, s, m, choice == "A", j.replier)
			return
		}
	}
	if n := utf8.RuneCountInString(m.Text); n > c.cfg.MaxInputChars {
		c.send(ctx, j.replier, phrase(m.Text,
			fmt.Sprintf("Your message is too long (%d characters; the limit is %d).", n, c.cfg.MaxInputChars),
			fmt.Sprintf("消息太长了（%d 个字符，上限 %d）。", n, c.cfg.MaxInputChars)))
		return
	}
	if m.Text == "" {
		c.send(ctx, j.replier, phrase(m.Text, "Ask me anything: write your question after the mention. /help lists the commands.", "请在 @ 之后写下你的问题。发送 /帮助 查看命令。"))
		return
	}
	if rule, ok := matchRefusal(c.refusals, m.Text); ok {
		c.log.Info("refused by rule", "category", rule.category, "platform", m.Platform)
		c.observeRefusal(m.Platform, rule.category)
		c.send(ctx, j.replier, rule.answer(m.Text))
		return
	}
	c.converse(ctx, s, m, j.replier)
}

// converse answers a new user turn.
func (c *Core) converse(ctx context.Context, s *session, m Message, r Replier) {
	system := c.systemPrompt(m.Platform, m.ChatID)
	history := s.history
	if m.History != nil {
		history = c.withoutNotices(m.History)
	}
	next := Turn{Role: RoleUser, Content: m.Text}
	prompt, history, ok := c.fitPrompt(system, history, next)
	if !ok {
		c.refuseTooLong(ctx, m, prompt, r)
		return
	}

	group := GroupID(c.newID())
	if c.abRoll() {
		va, vb := c.abVersions()
		a, errA := c.answer(ctx, r, m, prompt, group, "A", va)
		if errA != nil {
			return
		}
		b, errB := c.answer(ctx, r, m, prompt, group, "B", vb)
		if errB != nil {
			return
		}
		c.mu.Lock()
		c.pairs[a.ID] = [2]AnswerID{a.ID, b.ID}
		c.pairs[b.ID] = [2]AnswerID{a.ID, b.ID}
		c.mu.Unlock()
		s.last, s.lastPair = a.ID, [2]AnswerID{a.ID, b.ID}
		s.history = append(slices.Clone(history), next, Turn{Role: RoleAssistant, Content: a.Text})
		c.send(ctx, r, phrase(m.Text, "Which answer is better? Reply A or B.", "哪个回答更好？请回复 A 或 B。"))
		return
	}
	a, err := c.answer(ctx, r, m, prompt, group, "", nil)
	if err != nil {
		return
	}
	s.last, s.lastPair = a.ID, [2]AnswerID{}
	s.history = append(slices.Clone(history), next, Turn{Role: RoleAssistant, Content: a.Text})
}

func (c *Core) abRoll() bool {
	if c.cfg.ABProbability <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64() < c.cfg.ABProbability
}

// abVersions draws the two versions of an A/B offer from [bot]
// ab_adapters, in random order; with fewer than two listed both are the
// generator's default version (nil), as two samples of one model.
func (c *Core) abVersions() (a, b *VersionChoice) {
	vs := c.cfg.ABAdapters
	if len(vs) < 2 {
		return nil, nil
	}
	c.mu.Lock()
	i := c.rng.IntN(len(vs))
	j := c.rng.IntN(len(vs) - 1)
	c.mu.Unlock()
	if j >= i {
		j++
	}
	return &VersionChoice{Adapter: vs[i]}, &VersionChoice{Adapter: vs[j]}
}

// regenerate answers the prompt of answer prev again, as a sibling in the
// same prompt group, and makes it the session's last answer when prev was.
func (c *Core) regenerate(ctx context.Context, s *session, m Message, prev AnswerID, r Replier) {
	if c.opts.Store == nil {
		c.send(ctx, r, phrase(m.Text, "Regenerating needs the feedback store, which is off.", "重新生成需要反馈数据库，但它没有开启。"))
		return
	}
	old, err := c.opts.Store.Answer(ctx, prev)
	if err != nil {
		c.log.Error("reading answer to regenerate", "answer", prev, "err", err)
		c.send(ctx, r, phrase(m.Text, "I can't find that answer any more.", "找不到那个回答了。"))
		return
	}
	if m.SenderID == "" {
		m.SenderID = old.AskerID
	}
	a, err := c.answer(ctx, r, m, old.Prompt, old.GroupID, "", nil)
	if err != nil {
		return
	}
	if s.last == prev {
		s.last, s.lastPair = a.ID, [2]AnswerID{}
		if n := len(s.history); n > 0 && s.history[n-1].Role == RoleAssistant {
			s.history = append(slices.Clone(s.history[:n-1]), Turn{Role: RoleAssistant, Content: a.Text})
		}
	}
}

// answer generates, records and streams one answer to prompt. It records
// the answer before anything is sent and finishes the record afterwards.
// version chooses the model version (nil: the generator's default).
func (c *Core) answer(ctx context.Context, r Replier, m Message, prompt []Turn, group GroupID, label string, version *VersionChoice) (Answer, error) {
	if t, ok := r.(Typer); ok {
		if err := t.Typing(ctx); err != nil {
			c.log.Debug("typing indicator", "err", err)
		}
	}
	if c.opts.BestOf > 1 && c.opts.Scorer != nil {
		return c.bestOf(ctx, r, m, prompt, group, label, version)
	}
	a := c.newAnswer(m, prompt, group, label)
	recorded := c.record(ctx, a)

	var (
		mu       sync.Mutex
		sentIDs  []MessageID
		tokens   = make(chan string, 64)
		streamed = make(chan error, 1)
		exited   = make(chan struct{})
		started  bool
	)
	genCtx, cancelGen := context.WithCancel(ctx)
	defer cancelGen()
	out := Outgoing{AnswerID: a.ID, Label: label, Feedback: recorded, Sent: func(id MessageID) {
		mu.Lock()
		sentIDs = append(sentIDs, id)
		mu.Unlock()
		if recorded {
			if err := c.opts.Store.MapMessage(context.WithoutCancel(ctx), m.Platform, id, a.ID); err != nil {
				c.log.Error("mapping message to answer", "answer", a.ID, "err", err)
			}
		}
	}}
	start := func() {
		started = true
		go func() {
			err := r.Stream(ctx, out, tokens)
			close(exited)
			if err != nil {
				cancelGen()
			}
			streamed <- err
		}()
	}
	begun := c.opts.Now()
	res, genErr := c.opts.Generator.Generate(genCtx, c.request(prompt, a.Sampling, version), func(tok string) {
		if !started {
			start()
		}
		select {
		case tokens <- tok:
		case <-exited:
		}
	})
	noticed := false
	if started && genErr == nil {
		if n := c.claimNotice(ctx, m); n != "" {
			select {
			case tokens <- "\n\n" + n:
				noticed = true
			case <-exited:
				c.releaseNotice(m)
			}
		}
	}
	close(tokens)
	var streamErr error
	if started {
		streamErr = <-streamed
	}
	c.settleNotice(ctx, m, noticed, streamErr == nil)

	a.Text = res.Text
	a.PromptTokens, a.AnswerTokens = res.PromptTokens, res.AnswerTokens
	a.Latency = c.opts.Now().Sub(begun)
	a.Truncated = res.Truncated || genErr != nil || streamErr != nil
	a.Finished = true
	a.Model = res.Model
	if res.Sampling != nil {
		a.Sampling = *res.Sampling
	}
	mu.Lock()
	a.MessageIDs = slices.Clone(sentIDs)
	mu.Unlock()
	if recorded {
		if err := c.opts.Store.FinishAnswer(context.WithoutCancel(ctx), a); err != nil {
			c.log.Error("finishing answer record", "answer", a.ID, "err", err)
		}
	}
	if !recorded && started {
		c.tellNotRecording(ctx, r, m)
	}
	switch {
	case genErr != nil && !started:
		if ctx.Err() == nil {
			c.log.Error("generating answer", "err", genErr)
			fail(r, genErr)
			c.send(ctx, r, phrase(m.Text, "Sorry, I could not produce an answer this time.", "抱歉，这次没能生成回答。"))
		}
		return a, fmt.Errorf("generating: %w", genErr)
	case streamErr != nil && ctx.Err() != nil:
		c.log.Debug("answer withdrawn while shown", "answer", a.ID, "err", streamErr)
		return a, fmt.Errorf("streaming: %w", streamErr)
	case streamErr != nil:
		c.log.Warn("showing answer", "answer", a.ID, "err", streamErr)
		return a, fmt.Errorf("streaming: %w", streamErr)
	case genErr != nil:
		c.log.Warn("answer cut short", "answer", a.ID, "err", genErr)
	}
	return a, nil
}

// bestOf samples BestOf candidates without showing them, scores each, sends
// the best one, and records every candidate with its score as siblings.
func (c *Core) bestOf(ctx context.Context, r Replier, m Message, prompt []Turn, group GroupID, label string, version *VersionChoice) (Answer, error) {
	var best Answer
	bestScore := 0.0
	var cands []Answer
	for i := range c.opts.BestOf {
		a := c.newAnswer(m, prompt, group, label)
		a.Sent = false
		begun := c.opts.Now()
		res, err := c.opts.Generator.Generate(ctx, c.request(prompt, a.Sampling, version), func(string) {})
		if err != nil {
			if ctx.Err() != nil {
				return a, err
			}
			c.log.Warn("best-of candidate failed", "i", i, "err", err)
			continue
		}
		a.Text, a.PromptTokens, a.AnswerTokens = res.Text, res.PromptTokens, res.AnswerTokens
		a.Latency, a.Truncated, a.Finished, a.Model = c.opts.Now().Sub(begun), res.Truncated, true, res.Model
		if res.Sampling != nil {
			a.Sampling = *res.Sampling
		}
		score, err := c.opts.Scorer.Score(ctx, prompt, res.Text)
		if err != nil {
			c.log.Warn("scoring candidate", "err", err)
			continue
		}
		a.Score = &score
		cands = append(cands, a)
		if len(cands) == 1 || score > bestScore {
			best, bestScore = a, score
		}
	}
	if len(cands) == 0 {
		c.send(ctx, r, phrase(m.Text, "Sorry, I could not produce an answer this time.", "抱歉，这次没能生成回答。"))
		return Answer{}, errors.New("no candidate answer")
	}
	var sentIDs []MessageID
	var mu sync.Mutex
	bestRecorded := false
	recorded := make([]bool, len(cands))
	for i := range cands {
		cands[i].Sent = cands[i].ID == best.ID
		recorded[i] = c.record(ctx, cands[i])
		if cands[i].Sent {
			bestRecorded = recorded[i]
		}
	}
	tokens := make(chan string, 2)
	tokens <- best.Text
	notice := c.claimNotice(ctx, m)
	if notice != "" {
		tokens <- "\n\n" + notice
	}
	close(tokens)
	err := r.Stream(ctx, Outgoing{AnswerID: best.ID, Label: label, Feedback: bestRecorded, Sent: func(id MessageID) {
		mu.Lock()
		sentIDs = append(sentIDs, id)
		mu.Unlock()
		if bestRecorded {
			if err := c.opts.Store.MapMessage(context.WithoutCancel(ctx), m.Platform, id, best.ID); err != nil {
				c.log.Error("mapping message to answer", "answer", best.ID, "err", err)
			}
		}
	}}, tokens)
	c.settleNotice(ctx, m, notice != "", err == nil)
	if !bestRecorded {
		c.tellNotRecording(ctx, r, m)
	}
	for i, a := range cands {
		if a.ID == best.ID {
			mu.Lock()
			a.MessageIDs = slices.Clone(sentIDs)
			mu.Unlock()
			best = a
		}
		if recorded[i] {
			if err := c.opts.Store.FinishAnswer(context.WithoutCancel(ctx), a); err != nil {
				c.log.Error("finishing candidate record", "answer", a.ID, "err", err)
			}
		}
	}
	if err != nil {
		return best, fmt.Errorf("streaming: %w", err)
	}
	return best, nil
}

func (c *Core) newAnswer(m Message, prompt []Turn, group GroupID, label string) Answer {
	sp := c.opts.Sampling
	if sp.Seed == 0 {
		c.mu.Lock()
		sp.Seed = c.rng.Uint64()>>1 + 1
		c.mu.Unlock()
	}
	return Answer{
		ID:       AnswerID(c.newID()),
		GroupID:  group,
		Platform: m.Platform,
		ChatID:   m.ChatID,
		AskerID:  m.SenderID,
		Created:  c.opts.Now(),
		Prompt:   slices.Clone(prompt),
		Label:    label,
		Sampling: sp,
		Sent:     true,
	}
}

func (c *Core) request(prompt []Turn, sp Sampling, version *VersionChoice) Request {
	return Request{Messages: prompt, Sampling: sp, MaxTokens: c.opts.MaxTokens, Stop: c.opts.Stop, Version: version}
}

// record stores a new answer, reporting whether it was stored. An answer
// that cannot be stored is still shown, without vote controls.
func (c *Core) record(ctx context.Context, a Answer) bool {
	if c.opts.Store == nil {
		return false
	}
	out, err := c.readOptOut(ctx, a.Platform, a.AskerID)
	if err == nil && out {
		return false // the asker opted out: nothing of theirs is kept
	}
	if err == nil {
		err = c.opts.Store.RecordAnswer(context.WithoutCancel(ctx), a)
	}
	if err != nil {
		c.health.failed()
		c.log.Error("recording answer", "answer", a.ID, "failures", c.health.total.Load(), "err", err)
		return false
	}
	c.health.ok()
	return true
}

func (c *Core) send(ctx context.Context, r Replier, text string) {
	if err := r.Send(ctx, text); err != nil {
		c.log.Warn("sending notice", "err", err)
	}
}

func (c *Core) voteLast(ctx context.Context, s *session, m Message, good bool, r Replier) {
	if c.opts.Store == nil {
		c.send(ctx, r, phrase(m.Text, "Feedback is off (no database configured).", "反馈功能未开启（没有配置数据库）。"))
		return
	}
	if c.optedOut(ctx, m.Platform, m.SenderID) {
		c.send(ctx, r, optedOutNotice(m.Text))
		return
	}
	if s.lastPair[0] != "" {
		c.send(ctx, r, phrase(m.Text, "Please choose: reply A or B.", "请选择：回复 A 或 B。"))
		return
	}
	if s.last == "" {
		c.send(ctx, r, phrase(m.Text, "There is no answer to vote on yet.", "还没有可以评价的回答。"))
		return
	}
	v := -1
	if good {
		v = 1
	}
	if err := c.opts.Store.Vote(ctx, s.last, m.Platform, m.SenderID, v); err != nil {
		c.log.Error("recording vote", "answer", s.last, "err", err)
		c.send(ctx, r, phrase(m.Text, "Sorry, I could not record your vote.", "抱歉，没能记录你的评价。"))
		return
	}
	if good {
		c.send(ctx, r, phrase(m.Text, "Thanks! 👍 recorded.", "谢谢！已记录 👍。"))
	} else {
		c.send(ctx, r, phrase(m.Text, "Thanks! 👎 recorded. /regen gives another answer.", "谢谢！已记录 👎。发送“换一个”可以换个回答。"))
	}
}

func (c *Core) chooseInSession(ctx context.Context, s *session, m Message, chooseA bool, r Replier) {
	pair := s.lastPair
	winner, loser := pair[0], pair[1]
	if !chooseA {
		winner, loser = loser, winner
	}
	if err := c.opts.Store.Choose(ctx, winner, loser, m.Platform, m.SenderID); err != nil {
		c.log.Error("recording choice", "err", err)
		c.send(ctx, r, phrase(m.Text, "Sorry, I could not record your choice.", "抱歉，没能记录你的选择。"))
		return
	}
	s.last, s.lastPair = winner, [2]AnswerID{}
	if n := len(s.history); n > 0 && !chooseA {
		if w, err := c.opts.Store.Answer(ctx, winner); err == nil && s.history[n-1].Role == RoleAssistant {
			s.history = append(slices.Clone(s.history[:n-1]), Turn{Role: RoleAssistant, Content: w.Text})
		}
	}
	c.send(ctx, r, phrase(m.Text, "Thanks, choice recorded.", "谢谢，已记录你的选择。"))
}

func (c *Core) persona(ctx context.Context, m Message, arg string, r Replier) {
	key := chatKey{m.Platform, m.ChatID}
	if arg == "" {
		c.send(ctx, r, phrase(m.Text, "System prompt of this chat: ", "本聊天的系统提示：")+c.systemPrompt(m.Platform, m.ChatID))
		return
	}
	if !c.isAdmin(m.Platform, m.SenderID) {
		c.send(ctx, r, phrase(m.Text, "Only admins can change the persona.", "只有管理员可以修改人设。"))
		return
	}
	c.mu.Lock()
	if strings.EqualFold(arg, "reset") {
		delete(c.personas, key)
	} else {
		c.personas[key] = arg
	}
	c.mu.Unlock()
	c.send(ctx, r, phrase(m.Text, "Persona updated for this chat.", "本聊天的人设已更新。"))
}

// resolveAnswer finds the answer a reaction is about.
func (c *Core) resolveAnswer(ctx context.Context, x Reaction) (AnswerID, error) {
	st := c.opts.Store
	switch {
	case x.AnswerID != "":
		return x.AnswerID, nil
	case x.MessageID != "":
		return st.AnswerByMessage(ctx, x.Platform, x.MessageID)
	case x.QuotedText != "":
		return c.answerByQuote(ctx, x.Platform, x.ChatID, x.QuotedText)
	}
	since := c.opts.Now().Add(-c.cfg.VoteWindow.Duration)
	recent, err := st.RecentAnswers(ctx, x.Platform, x.ChatID, x.UserID, since, 8)
	if err != nil {
		return "", err
	}
	for _, a := range recent {
		if a.Sent {
			return a.ID, nil
		}
	}
	return "", fmt.Errorf("no answer to this user in the last %v: %w", c.cfg.VoteWindow.Duration, ErrNotFound)
}

// quoteWindow is how far back a quoted answer is looked for (among the
// chat's last 50 answers).
const quoteWindow = 7 * 24 * time.Hour

// answerByQuote finds the recent answer in a chat that quoted text comes
// from. Platforms shorten long quotes, so a prefix match counts.
func (c *Core) answerByQuote(ctx context.Context, platform string, chat ChatID, quoted string) (AnswerID, error) {
	q := normalizeQuote(quoted)
	if q == "" {
		return "", ErrNotFound
	}
	since := c.opts.Now().Add(-quoteWindow)
	recent, err := c.opts.Store.RecentAnswers(ctx, platform, chat, "", since, 50)
	if err != nil {
		return "", err
	}
	for _, a := range recent {
		t := normalizeQuote(a.Text)
		if a.Sent && t != "" && (strings.HasPrefix(t, q) || strings.Contains(t, q)) {
			return a.ID, nil
		}
	}
	return "", fmt.Errorf("quoted text matches no recent answer: %w", ErrNotFound)
}

// normalizeQuote drops whitespace and the ellipses platforms add when they
// shorten a quote.
func normalizeQuote(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), "...")
	s = strings.TrimSuffix(s, "…")
	return strings.Join(strings.Fields(s), "")
}

// choose records an A/B choice made by reacting on one of the two answers.
func (c *Core) choose(ctx context.Context, id AnswerID, chooseA bool, platform string, voter UserID) error {
	c.mu.Lock()
	pair, ok := c.pairs[id]
	c.mu.Unlock()
	if !ok {
		a, err := c.opts.Store.Answer(ctx, id)
		if err != nil {
			return err
		}
		sibs, err := c.opts.Store.RecentAnswers(ctx, a.Platform, a.ChatID, "", a.Created.Add(-c.cfg.VoteWindow.Duration), 50)
		if err != nil {
			return err
		}
		for _, s := range sibs {
			if s.GroupID == a.GroupID && s.Label != "" {
				switch s.Label {
				case "A":
					pair[0] = s.ID
				case "B":
					pair[1] = s.ID
				}
			}
		}
		if pair[0] == "" || pair[1] == "" {
			return fmt.Errorf("answer %s is not part of an A/B comparison: %w", id, ErrNotFound)
		}
	}
	winner, loser := pair[0], pair[1]
	if !chooseA {
		winner, loser = loser, winner
	}
	return c.opts.Store.Choose(ctx, winner, loser, platform, voter)
}

// refuseTooLong tells the asker that their message cannot fit in the
// model's context window even without any history, and what to change.
func (c *Core) refuseTooLong(ctx context.Context, m Message, prompt []Turn, r Replier) {
	n := c.promptTokens(prompt)
	c.log.Info("message refused: does not fit the context window", "platform", m.Platform, "prompt_tokens", n, "context", c.opts.ContextTokens, "max_tokens", c.opts.MaxTokens)
	c.observeRefusal(m.Platform, "too_long")
	fail(r, fmt.Errorf("%w: the prompt takes %d tokens and %d fit (context %d, max_tokens %d)", ErrTooLong, n, c.promptWindow(), c.opts.ContextTokens, c.opts.MaxTokens))
	c.send(ctx, r, phrase(m.Text,
		fmt.Sprintf("Your message is too long for this model's context window: with the system prompt it takes %d tokens, and only %d fit (a context of %d tokens, %d kept for the answer). Please send a shorter message.", n, c.promptWindow(), c.opts.ContextTokens, c.opts.MaxTokens),
		fmt.Sprintf("消息太长了，超出了模型的上下文窗口（context）：连同系统提示共 %d 个 token，最多只能放下 %d 个（上下文 %d 个 token，其中 %d 个留给回答）。请发一条短一些的消息。", n, c.promptWindow(), c.opts.ContextTokens, c.opts.MaxTokens)))
}

// ErrTooLong is what a Failer is told when a message cannot fit in the
// model's context window, even with no history.
var ErrTooLong = errors.New("the message does not fit in the context window: raise model.context or lower model.max_tokens")

// fail tells a Failer why its message got no answer.
func fail(r Replier, err error) {
	if f, ok := r.(Failer); ok {
		f.Fail(err)
	}
}
