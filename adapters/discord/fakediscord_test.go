package discord

// A fake Discord on 127.0.0.1 that speaks the real protocol to the real
// discordgo client: the v9 REST API (JSON bodies, Authorization header,
// rate-limit headers and 429s) and the gateway websocket (HELLO, IDENTIFY,
// READY, heartbeats and ACKs, dispatches with sequence numbers, RESUME with
// replay of missed events, RESUMED). Its JSON shapes are written here from
// Discord's documentation, not borrowed from discordgo.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	fakeToken   = "fake-token.Zm9vYmFy.secret"
	fakeBotID   = "900000000000000001"
	fakeAppID   = "900000000000000002"
	fakeGuildID = "800000000000000001"
	fakeChannel = "700000000000000001"
	fakeDM      = "700000000000000002"
	fakeThread  = "700000000000000003"
)

// Channel types (Discord's numbers).
const (
	chanGuildText    = 0
	chanDM           = 1
	chanPublicThread = 11
)

type fUser struct {
	ID            string `json:"id"`
	Username      string `json:"username"`
	GlobalName    string `json:"global_name,omitempty"`
	Discriminator string `json:"discriminator"`
	Bot           bool   `json:"bot,omitempty"`
}

type fRef struct {
	Type            int    `json:"type"`
	MessageID       string `json:"message_id"`
	ChannelID       string `json:"channel_id,omitempty"`
	GuildID         string `json:"guild_id,omitempty"`
	FailIfNotExists *bool  `json:"fail_if_not_exists,omitempty"`
}

type fAllowedMentions struct {
	Parse       []string `json:"parse"`
	Users       []string `json:"users,omitempty"`
	Roles       []string `json:"roles,omitempty"`
	RepliedUser bool     `json:"replied_user"`
}

type fMessage struct {
	ID                string    `json:"id"`
	ChannelID         string    `json:"channel_id"`
	GuildID           string    `json:"guild_id,omitempty"`
	Author            fUser     `json:"author"`
	Content           string    `json:"content"`
	Timestamp         string    `json:"timestamp"`
	EditedTimestamp   *string   `json:"edited_timestamp"`
	TTS               bool      `json:"tts"`
	MentionEveryone   bool      `json:"mention_everyone"`
	Mentions          []fUser   `json:"mentions"`
	MentionRoles      []string  `json:"mention_roles"`
	Attachments       []any     `json:"attachments"`
	Embeds            []any     `json:"embeds"`
	Pinned            bool      `json:"pinned"`
	Type              int       `json:"type"`
	MessageReference  *fRef     `json:"message_reference,omitempty"`
	ReferencedMessage *fMessage `json:"referenced_message,omitempty"`
}

// createRequest is what the bot asked for in a POST .../messages.
type createRequest struct {
	Channel         string
	Content         string
	Reference       *fRef
	AllowedMentions *fAllowedMentions
	ID              string // the message created
}

type gatewayFrame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

type dispatched struct {
	seq  int64
	name string
	data json.RawMessage
}

type fakeDiscord struct {
	t   testing.TB
	srv *httptest.Server
	bot fUser

	mu           sync.Mutex
	nextID       int64
	channels     map[string]int // id → type
	guildOf      map[string]string
	messages     map[string]*fMessage // live messages by id
	order        []string             // message ids in creation order
	creates      []createRequest
	edits        map[string][]string // message id → contents of successive edits
	botReactions map[string][]string // message id → emoji the bot added
	typing       int
	commands     []json.RawMessage
	commandGuild string
	callbacks    []int    // interaction response types
	ephemeral    []bool   // their ephemeral flag
	original     []string // edits of interactions' @original
	followups    []string

	// rate limiting: the first edit of a message gets a 429; an edit that
	// comes back before the reset time counts as a violation.
	limitEdits  bool
	limitUntil  time.Time
	limited     int
	violations  int
	limitWindow time.Duration

	// failEdits makes the next edits fail with a 500.
	failEdits, failed int

	// gateway
	conn       *websocket.Conn
	connMu     *sync.Mutex // serialises writes to conn
	sessionID  string
	seq        int64
	log        []dispatched
	identifies int
	resumes    int
	heartbeats int
	readies    int // READY and RESUMED sent
	intents    int64
	badAuth    int
	// contentIntentOff refuses IDENTIFY with the message-content intent
	// (close 4014), as Discord does when it is not enabled for the bot.
	contentIntentOff bool
	deleted          map[string]bool
}

func newFakeDiscord(t testing.TB) *fakeDiscord {
	f := &fakeDiscord{
		t:            t,
		bot:          fUser{ID: fakeBotID, Username: "loopbot", Discriminator: "0", Bot: true},
		nextID:       1000000000000000,
		channels:     map[string]int{fakeChannel: chanGuildText, fakeDM: chanDM, fakeThread: chanPublicThread},
		guildOf:      map[string]string{fakeChannel: fakeGuildID, fakeThread: fakeGuildID},
		messages:     map[string]*fMessage{},
		edits:        map[string][]string{},
		botReactions: map[string][]string{},
		limitWindow:  300 * time.Millisecond,
		deleted:      map[string]bool{},
	}
	mux := http.NewServeMux()
	api := "/api/v9"
	mux.HandleFunc("GET /gw/{$}", f.serveGateway) // discordgo appends "/"
	mux.HandleFunc("GET "+api+"/gateway", f.auth(f.getGateway))
	mux.HandleFunc("GET "+api+"/users/@me", f.auth(f.getMe))
	mux.HandleFunc("GET "+api+"/channels/{cid}", f.auth(f.getChannel))
	mux.HandleFunc("GET "+api+"/channels/{cid}/messages", f.auth(f.listMessages))
	mux.HandleFunc("POST "+api+"/channels/{cid}/messages", f.auth(f.createMessage))
	mux.HandleFunc("GET "+api+"/channels/{cid}/messages/{mid}", f.auth(f.getMessage))
	mux.HandleFunc("PATCH "+api+"/channels/{cid}/messages/{mid}", f.auth(f.editMessage))
	mux.HandleFunc("PUT "+api+"/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", f.auth(f.addReaction))
	mux.HandleFunc("DELETE "+api+"/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", f.auth(f.removeReaction))
	mux.HandleFunc("POST "+api+"/channels/{cid}/typing", f.auth(f.postTyping))
	mux.HandleFunc("PUT "+api+"/applications/{app}/commands", f.auth(f.putCommands))
	mux.HandleFunc("PUT "+api+"/applications/{app}/guilds/{gid}/commands", f.auth(f.putCommands))
	mux.HandleFunc("POST "+api+"/interactions/{iid}/{itoken}/callback", f.interactionCallback)
	mux.HandleFunc("PATCH "+api+"/webhooks/{app}/{itoken}/messages/@original", f.editOriginal)
	mux.HandleFunc("POST "+api+"/webhooks/{app}/{itoken}", f.followup)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.t.Errorf("fake discord: unexpected request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, 0, "404: Not Found")
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

// URL is the api_url to give the adapter.
func (f *fakeDiscord) URL() string { return f.srv.URL + "/" }

func (f *fakeDiscord) close() {
	f.mu.Lock()
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		c.Close()
	}
	f.srv.CloseClientConnections()
	f.srv.Close()
}

func (f *fakeDiscord) id() string {
	f.nextID++
	return strconv.FormatInt(f.nextID, 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

// auth checks the bot token as Discord does.
func (f *fakeDiscord) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+fakeToken {
			f.mu.Lock()
			f.badAuth++
			f.mu.Unlock()
			writeError(w, http.StatusUnauthorized, 0, "401: Unauthorized")
			return
		}
		h(w, r)
	}
}

func (f *fakeDiscord) getGateway(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gw"})
}

func (f *fakeDiscord) getMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, f.bot)
}

func (f *fakeDiscord) getChannel(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	f.mu.Lock()
	typ, ok := f.channels[cid]
	guild := f.guildOf[cid]
	f.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	ch := map[string]any{"id": cid, "type": typ, "name": "chan-" + cid}
	if guild != "" {
		ch["guild_id"] = guild
	}
	if typ == chanPublicThread {
		ch["parent_id"] = fakeChannel
	}
	writeJSON(w, http.StatusOK, ch)
}

// listMessages serves GET .../messages?limit=&before=, newest first.
func (f *fakeDiscord) listMessages(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body")
			return
		}
		limit = n
	}
	before := r.URL.Query().Get("before")
	f.mu.Lock()
	var out []*fMessage
	for i := len(f.order) - 1; i >= 0 && len(out) < limit; i-- {
		m := f.messages[f.order[i]]
		if m == nil || m.ChannelID != cid {
			continue
		}
		if before != "" && !idLess(m.ID, before) {
			continue
		}
		out = append(out, f.withRef(m))
	}
	f.mu.Unlock()
	if out == nil {
		out = []*fMessage{}
	}
	writeJSON(w, http.StatusOK, out)
}

func idLess(a, b string) bool {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return x < y
}

// withRef returns a copy of m with its referenced message filled in (one
// level), as Discord serves it. f.mu is held.
func (f *fakeDiscord) withRef(m *fMessage) *fMessage {
	c := *m
	c.ReferencedMessage = nil
	if m.MessageReference != nil {
		if rm := f.messages[m.MessageReference.MessageID]; rm != nil {
			rc := *rm
			rc.ReferencedMessage = nil
			c.ReferencedMessage = &rc
		}
	}
	return &c
}

func (f *fakeDiscord) getMessage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	m := f.messages[r.PathValue("mid")]
	var out *fMessage
	if m != nil && m.ChannelID == r.PathValue("cid") {
		out = f.withRef(m)
	}
	f.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// createMessage serves POST .../messages for the bot, validating as
// Discord does: 2,000 characters at most, not empty, and a reference to a
// missing message fails unless fail_if_not_exists is false.
func (f *fakeDiscord) createMessage(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	var body struct {
		Content         string            `json:"content"`
		MessageRef      *fRef             `json:"message_reference"`
		AllowedMentions *fAllowedMentions `json:"allowed_mentions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	if n := len([]rune(body.Content)); n > 2000 {
		writeError(w, http.StatusBadRequest, 50035, fmt.Sprintf("Invalid Form Body: content: Must be 2000 or fewer in length (%d).", n))
		return
	}
	if strings.TrimSpace(body.Content) == "" {
		writeError(w, http.StatusBadRequest, 50006, "Cannot send an empty message")
		return
	}
	f.mu.Lock()
	if _, ok := f.channels[cid]; !ok {
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, 10003, "Unknown Channel")
		return
	}
	m := &fMessage{
		ID: f.id(), ChannelID: cid, GuildID: f.guildOf[cid], Author: f.bot, Content: body.Content,
		Timestamp: now(), Mentions: []fUser{}, MentionRoles: []string{}, Attachments: []any{}, Embeds: []any{},
	}
	if ref := body.MessageRef; ref != nil {
		if f.messages[ref.MessageID] == nil {
			if ref.FailIfNotExists == nil || *ref.FailIfNotExists {
				f.mu.Unlock()
				writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body: message_reference: Unknown message")
				return
			}
		} else {
			m.Type = 19
			m.MessageReference = &fRef{MessageID: ref.MessageID, ChannelID: cid, GuildID: f.guildOf[cid]}
		}
	}
	f.messages[m.ID] = m
	f.order = append(f.order, m.ID)
	f.creates = append(f.creates, createRequest{Channel: cid, Content: body.Content, Reference: body.MessageRef, AllowedMentions: body.AllowedMentions, ID: m.ID})
	out := f.withRef(m)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
	f.dispatch("MESSAGE_CREATE", out) // Discord echoes the bot's own messages
}

// editMessage serves PATCH .../messages/{mid}.
func (f *fakeDiscord) editMessage(w http.ResponseWriter, r *http.Request) {
	mid := r.PathValue("mid")
	var body struct {
		Content         *string           `json:"content"`
		AllowedMentions *fAllowedMentions `json:"allowed_mentions"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	f.mu.Lock()
	if f.limitEdits {
		nowT := time.Now()
		switch {
		case f.limitUntil.IsZero():
			f.limitUntil = nowT.Add(f.limitWindow)
			f.limited++
			f.mu.Unlock()
			secs := f.limitWindow.Seconds()
			w.Header().Set("Retry-After", strconv.Itoa(int(secs+0.999)))
			w.Header().Set("X-RateLimit-Limit", "5")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset-After", strconv.FormatFloat(secs, 'f', 3, 64))
			w.Header().Set("X-RateLimit-Bucket", "fake-edit-bucket")
			w.Header().Set("X-RateLimit-Scope", "user")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{
				"message": "You are being rate limited.", "retry_after": secs, "global": false,
			})
			return
		case nowT.Before(f.limitUntil):
			f.violations++
			f.mu.Unlock()
			writeJSON(w, http.StatusTooManyRequests, map[string]any{
				"message": "You are being rate limited.", "retry_after": f.limitWindow.Seconds(), "global": false,
			})
			return
		}
	}
	if f.failEdits > 0 {
		f.failEdits--
		f.failed++
		f.mu.Unlock()
		writeError(w, http.StatusInternalServerError, 0, "500: Internal Server Error")
		return
	}
	m := f.messages[mid]
	if m == nil || m.ChannelID != r.PathValue("cid") {
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	if m.Author.ID != f.bot.ID {
		f.mu.Unlock()
		writeError(w, http.StatusForbidden, 50005, "Cannot edit a message authored by another user")
		return
	}
	if body.Content != nil {
		if len([]rune(*body.Content)) > 2000 {
			f.mu.Unlock()
			writeError(w, http.StatusBadRequest, 50035, "Invalid Form Body: content: Must be 2000 or fewer in length.")
			return
		}
		m.Content = *body.Content
		f.edits[mid] = append(f.edits[mid], *body.Content)
	}
	if body.AllowedMentions == nil || len(body.AllowedMentions.Parse) != 0 {
		f.t.Errorf("edit of %s: allowed_mentions %+v lets output ping", mid, body.AllowedMentions)
	}
	ts := now()
	m.EditedTimestamp = &ts
	out := f.withRef(m)
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeDiscord) addReaction(w http.ResponseWriter, r *http.Request) {
	cid, mid, emoji := r.PathValue("cid"), r.PathValue("mid"), r.PathValue("emoji")
	f.mu.Lock()
	m := f.messages[mid]
	if m == nil || m.ChannelID != cid {
		f.mu.Unlock()
		writeError(w, http.StatusNotFound, 10008, "Unknown Message")
		return
	}
	f.botReactions[mid] = append(f.botReactions[mid], emoji)
	guild := f.guildOf[cid]
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	f.dispatch("MESSAGE_REACTION_ADD", reactionPayload(f.bot, cid, guild, mid, emoji, true))
}

func (f *fakeDiscord) removeReaction(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDiscord) postTyping(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.typing++
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDiscord) putCommands(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("app") != fakeAppID {
		writeError(w, http.StatusForbidden, 50001, "Missing Access")
		return
	}
	var cmds []map[string]any
	if err := json.NewDecoder(r.Body).Decode(&cmds); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	f.mu.Lock()
	f.commands = nil
	f.commandGuild = r.PathValue("gid")
	for _, c := range cmds {
		c["id"] = f.id()
		c["application_id"] = fakeAppID
		c["version"] = "1"
		b, _ := json.Marshal(c)
		f.commands = append(f.commands, b)
	}
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, cmds)
}

// interactionCallback serves the interaction response (no bot token: the
// interaction token in the path authorises it).
func (f *fakeDiscord) interactionCallback(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Type int `json:"type"`
		Data *struct {
			Flags int `json:"flags"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	f.mu.Lock()
	f.callbacks = append(f.callbacks, body.Type)
	f.ephemeral = append(f.ephemeral, body.Data != nil && body.Data.Flags&64 != 0)
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDiscord) editOriginal(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content string `json:"content"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.original = append(f.original, body.Content)
	id := f.id()
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, fMessage{ID: id, ChannelID: fakeChannel, Author: f.bot, Content: body.Content, Timestamp: now(),
		Mentions: []fUser{}, MentionRoles: []string{}, Attachments: []any{}, Embeds: []any{}})
}

func (f *fakeDiscord) followup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content string `json:"content"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	f.followups = append(f.followups, body.Content)
	id := f.id()
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, fMessage{ID: id, ChannelID: fakeChannel, Author: f.bot, Content: body.Content, Timestamp: now(),
		Mentions: []fUser{}, MentionRoles: []string{}, Attachments: []any{}, Embeds: []any{}})
}

// ---- gateway ----

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveGateway speaks the gateway protocol on one websocket connection.
func (f *fakeDiscord) serveGateway(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Get("v") != "9" || q.Get("encoding") != "json" {
		f.t.Errorf("gateway: query %q, want v=9&encoding=json", r.URL.RawQuery)
	}
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	wmu := &sync.Mutex{}
	write := func(v any) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		return c.WriteJSON(v)
	}
	if err := write(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 1000}, "s": nil, "t": nil}); err != nil {
		return
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var fr gatewayFrame
		if err := c.ReadJSON(&fr); err != nil {
			return
		}
		switch fr.Op {
		case 1: // heartbeat
			f.mu.Lock()
			f.heartbeats++
			f.mu.Unlock()
			if err := write(map[string]any{"op": 11, "d": nil, "s": nil, "t": nil}); err != nil {
				return
			}
		case 2: // identify
			var d struct {
				Token   string `json:"token"`
				Intents int64  `json:"intents"`
			}
			if err := json.Unmarshal(fr.D, &d); err != nil || d.Token != "Bot "+fakeToken && d.Token != fakeToken {
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."))
				return
			}
			f.mu.Lock()
			if f.contentIntentOff && d.Intents&(1<<15) != 0 {
				f.mu.Unlock()
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4014, "Disallowed intent(s)."))
				return
			}
			f.identifies++
			f.intents = d.Intents
			f.sessionID = fmt.Sprintf("session-%d", f.identifies)
			f.seq++
			seq := f.seq
			ready := map[string]any{
				"v": 9, "user": f.bot, "guilds": []any{map[string]any{"id": fakeGuildID, "unavailable": true}},
				"session_id": f.sessionID, "resume_gateway_url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/gw",
				"application": map[string]any{"id": fakeAppID, "flags": 0}, "private_channels": []any{},
			}
			data, _ := json.Marshal(ready)
			f.log = append(f.log, dispatched{seq: seq, name: "READY", data: data})
			f.conn, f.connMu = c, wmu
			f.readies++
			err := write(frame(seq, "READY", data))
			f.mu.Unlock()
			if err != nil {
				return
			}
		case 6: // resume
			var d struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			}
			_ = json.Unmarshal(fr.D, &d)
			f.mu.Lock()
			if d.SessionID != f.sessionID || (d.Token != "Bot "+fakeToken && d.Token != fakeToken) {
				f.mu.Unlock()
				_ = write(map[string]any{"op": 9, "d": false, "s": nil, "t": nil}) // invalid session
				continue
			}
			f.resumes++
			var missed []dispatched
			for _, e := range f.log {
				if e.seq > d.Seq {
					missed = append(missed, e)
				}
			}
			f.seq++
			seq := f.seq
			f.conn, f.connMu = c, wmu
			f.readies++
			// Replay under the lock so that new dispatches queue behind.
			for _, e := range missed {
				_ = write(frame(e.seq, e.name, e.data))
			}
			err := write(frame(seq, "RESUMED", json.RawMessage(`{}`)))
			f.mu.Unlock()
			if err != nil {
				return
			}
		default:
			// presence updates and the like: ignored
		}
	}
}

func frame(seq int64, name string, data json.RawMessage) map[string]any {
	return map[string]any{"op": 0, "s": seq, "t": name, "d": data}
}

// dispatch sends an event to the connected client, or keeps it for the
// client's RESUME if the connection is down.
func (f *fakeDiscord) dispatch(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		f.t.Errorf("dispatch %s: %v", name, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.log = append(f.log, dispatched{seq: f.seq, name: name, data: data})
	if f.conn == nil {
		return
	}
	f.connMu.Lock()
	_ = f.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	err = f.conn.WriteJSON(frame(f.seq, name, data))
	f.connMu.Unlock()
	if err != nil {
		f.conn = nil
	}
}

// drop closes the gateway socket without a close frame, as a network
// failure would.
func (f *fakeDiscord) drop() {
	f.mu.Lock()
	c := f.conn
	f.conn = nil
	f.mu.Unlock()
	if c != nil {
		_ = c.NetConn().Close()
	}
}

// requestReconnect sends op 7 RECONNECT: the client must close and
// resume on a new connection.
func (f *fakeDiscord) requestReconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == nil {
		return
	}
	f.connMu.Lock()
	_ = f.conn.WriteJSON(map[string]any{"op": 7, "d": nil, "s": nil, "t": nil})
	f.connMu.Unlock()
}

// ---- what users do ----

type userMsg struct {
	channel    string
	author     fUser
	content    string
	mentionBot bool   // put the bot in mentions (the content should hold <@id>)
	replyTo    string // reply to this message
}

// say posts a user's message and dispatches MESSAGE_CREATE; it returns the
// message id.
func (f *fakeDiscord) say(u userMsg) string {
	f.mu.Lock()
	m := &fMessage{
		ID: f.id(), ChannelID: u.channel, GuildID: f.guildOf[u.channel], Author: u.author, Content: u.content,
		Timestamp: now(), Mentions: []fUser{}, MentionRoles: []string{}, Attachments: []any{}, Embeds: []any{},
	}
	if u.mentionBot {
		m.Mentions = append(m.Mentions, f.bot)
	}
	if u.replyTo != "" {
		m.Type = 19
		m.MessageReference = &fRef{MessageID: u.replyTo, ChannelID: u.channel, GuildID: f.guildOf[u.channel]}
		if rm := f.messages[u.replyTo]; rm != nil && rm.Author.ID == f.bot.ID {
			m.Mentions = append(m.Mentions, f.bot) // the reply's ping
		}
	}
	f.messages[m.ID] = m
	f.order = append(f.order, m.ID)
	out := f.withRef(m)
	f.mu.Unlock()
	payload := struct {
		*fMessage
		Member any `json:"member,omitempty"`
	}{fMessage: out}
	if out.GuildID != "" {
		payload.Member = map[string]any{"roles": []string{}, "joined_at": now(), "deaf": false, "mute": false}
	}
	f.dispatch("MESSAGE_CREATE", payload)
	return m.ID
}

func reactionPayload(u fUser, channel, guild, msg, emoji string, add bool) map[string]any {
	p := map[string]any{
		"user_id": u.ID, "channel_id": channel, "message_id": msg,
		"emoji": map[string]any{"id": nil, "name": emoji},
	}
	if guild != "" {
		p["guild_id"] = guild
		if add {
			p["member"] = map[string]any{"user": u, "roles": []string{}, "joined_at": now(), "deaf": false, "mute": false}
		}
	}
	return p
}

// react dispatches a user's reaction (add or remove).
func (f *fakeDiscord) react(u fUser, channel, msg, emoji string, add bool) {
	f.mu.Lock()
	guild := f.guildOf[channel]
	f.mu.Unlock()
	name := "MESSAGE_REACTION_ADD"
	if !add {
		name = "MESSAGE_REACTION_REMOVE"
	}
	f.dispatch(name, reactionPayload(u, channel, guild, msg, emoji, add))
}

// deleteMessage deletes a message (its author or a moderator did) and
// dispatches MESSAGE_DELETE.
func (f *fakeDiscord) deleteMessage(channel, msg string) {
	f.mu.Lock()
	delete(f.messages, msg)
	f.deleted[msg] = true
	guild := f.guildOf[channel]
	f.mu.Unlock()
	p := map[string]any{"id": msg, "channel_id": channel}
	if guild != "" {
		p["guild_id"] = guild
	}
	f.dispatch("MESSAGE_DELETE", p)
}

// slash dispatches INTERACTION_CREATE for a slash command.
func (f *fakeDiscord) slash(u fUser, channel, name string, options map[string]string) string {
	f.mu.Lock()
	id := f.id()
	guild := f.guildOf[channel]
	f.mu.Unlock()
	var opts []any
	for k, v := range options {
		opts = append(opts, map[string]any{"name": k, "type": 3, "value": v})
	}
	p := map[string]any{
		"id": id, "application_id": fakeAppID, "type": 2, "token": "itoken-" + id, "version": 1,
		"channel_id": channel,
		"data":       map[string]any{"id": "cmd-" + name, "name": name, "type": 1, "options": opts},
	}
	if guild != "" {
		p["guild_id"] = guild
		p["member"] = map[string]any{"user": u, "roles": []string{}, "permissions": "32", "joined_at": now(), "deaf": false, "mute": false}
	} else {
		p["user"] = u
	}
	f.dispatch("INTERACTION_CREATE", p)
	return id
}

// ---- inspection ----

// botMessages returns the bot's live messages in a channel, oldest first.
func (f *fakeDiscord) botMessages(channel string) []fMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fMessage
	for _, id := range f.order {
		if m := f.messages[id]; m != nil && m.ChannelID == channel && m.Author.ID == f.bot.ID {
			out = append(out, *m)
		}
	}
	return out
}

func (f *fakeDiscord) message(id string) (fMessage, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.messages[id]
	if m == nil {
		return fMessage{}, false
	}
	return *m, true
}

func (f *fakeDiscord) editsOf(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.edits[id]...)
}

func (f *fakeDiscord) reactionsOn(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.botReactions[id]...)
}

func (f *fakeDiscord) createsInto(channel string) []createRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []createRequest
	for _, c := range f.creates {
		if c.Channel == channel {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeDiscord) stat(read func(f *fakeDiscord) int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return read(f)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
