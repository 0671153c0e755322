package ilink

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/chatloop/chatloop/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultStateFile is where the bot token, its ids and the long-poll
// cursor are kept: $XDG_STATE_HOME/chatloop/wechat-ilink.json, else
// ~/.local/state/chatloop/wechat-ilink.json. It is "" when neither
// variable is set.
func DefaultStateFile() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "chatloop", "wechat-ilink.json")
}

// account is one confirmed QR login: the bot token (a secret) and where
// to use it.
type account struct {
	Token   string `json:"token"`
	BotID   string `json:"ilink_bot_id"`
	UserID  string `json:"ilink_user_id,omitempty"` // who scanned the code
	BaseURL string `json:"base_url"`
}

// state is the file's content.
type state struct {
	Account account `json:"account"`
	// GetUpdatesBuf is the long-poll cursor: the server's get_updates_buf,
	// sent back with the next poll so that nothing is delivered twice or
	// lost across restarts.
	GetUpdatesBuf string `json:"get_updates_buf"`
	// Expired is set when the server called the token stale (errcode
	// -14): the next start logs in by QR code.
	Expired bool      `json:"expired,omitempty"`
	SavedAt time.Time `json:"saved_at"`
}

// loadState reads the state file; a missing file is the zero state.
func loadState(path string) (state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil
	}
	if err != nil {
		return state{}, fmt.Errorf("reading the iLink login: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return state{}, fmt.Errorf("reading the iLink login %s: %w (delete the file to log in again)", path, err)
	}
	return s, nil
}

// saveState replaces the state file atomically, with mode 0600.
func saveState(path string, s state) error {
	s.SavedAt = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("saving the iLink login: %w", err)
	}
	if err := atomicfile.WritePrivate(path, append(b, '\n')); err != nil {
		return fmt.Errorf("saving the iLink login: %w", err)
	}
	return nil
}
