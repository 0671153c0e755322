// Package platform is the contract between a chat platform's adapter and
// the chatloop command: each adapter package describes itself with one
// Spec (its section name, its configuration with defaults, validation and
// commented TOML, and how to start it), and the command keeps one table of
// Specs from which it builds the configuration file, "chatloop init",
// "chatloop run" and the help text.
//
// Adding a platform is its folder under adapters/ exporting a Spec, and
// one line in cmd/chatloop/platforms.go. This package imports only bot, as
// the adapters do.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/chatloop/chatloop/bot"
)

// Runner is a started adapter: Run blocks until ctx is cancelled or the
// adapter stops for good, and returns why.
type Runner interface {
	Run(ctx context.Context) error
}

// Env is what the command hands every adapter it starts, beside the
// adapter's own configuration and the core.
type Env struct {
	// Log is the process logger; adapters add their own attributes.
	Log *slog.Logger
	// Prefix is the bot's group trigger prefix ([bot] prefix), for
	// platforms that need to know it (Discord's message-content intent).
	Prefix string
	// StateBase is the path adapters keep their own state files beside:
	// the feedback database's ([feedback] db). See StateFile.
	StateBase string
	// Conn receives the adapter's connection state (see Connection).
	Conn Conn
	// Redact registers a secret an adapter obtains at run time (an access
	// token from the platform's API, a session token from a login) with
	// the process's log redactor, as soon as it is obtained; nil: there is
	// none (tests).
	Redact func(...string)
}

// StateFile is the path of an adapter's state file named suffix, beside
// the feedback database: "chatloop.db.wecom-seen".
func (e Env) StateFile(suffix string) string { return e.StateBase + "." + suffix }

// Config is what every platform configuration does: say whether it is
// valid. It is implemented by the adapter's Config value type.
type Config interface {
	Validate() error
}

// Def describes a platform whose [Name] section decodes into C. Each
// adapter package fills one and exports Def.Spec() as its Platform.
type Def[C Config] struct {
	// Name is the configuration section and the adapter's name in logs:
	// "discord".
	Name string
	// Title is the platform's name for people: "Discord".
	Title string
	// Default returns the configuration with every key's default.
	Default func() C
	// Enabled reports whether "chatloop run" starts the adapter.
	Enabled func(C) bool
	// TOML is the commented section written by "chatloop init": the
	// "[Name]" header and every key of C with its default.
	TOML string
	// New builds the adapter over the core's handler.
	New func(cfg C, h bot.Handler, env Env) (Runner, error)
	// LoginQR, optional, names the image file of the login QR code the
	// adapter writes (the dashboard shows it); "" when it has none.
	LoginQR func(C) string
	// SecretEnvs, optional, are the environment variables that hold the
	// platform's secrets; SecretFiles the files the configuration names
	// for them (*_file keys). The command masks their values in logs.
	SecretEnvs  []string
	SecretFiles func(C) []string
}

// Spec is a platform as the command's table holds it: Def with its
// configuration type hidden behind pointers made by NewConfig.
type Spec struct {
	name, title, toml string
	newConfig         func() any
	enabled           func(any) bool
	validate          func(any) error
	start             func(any, bot.Handler, Env) (Runner, error)
	loginQR           func(any) string
	secretEnvs        []string
	secretFiles       func(any) []string
}

// Spec checks d and turns it into a table entry. It panics on a Def that
// lacks a field, as a registration mistake is a programming error found
// at start.
func (d Def[C]) Spec() Spec {
	if d.Name == "" || d.Default == nil || d.Enabled == nil || d.New == nil {
		panic(fmt.Sprintf("platform: incomplete Def %q", d.Name))
	}
	if !strings.Contains("\n"+d.TOML, "\n["+d.Name+"]\n") {
		panic(fmt.Sprintf("platform: %s: the TOML fragment has no [%s] header", d.Name, d.Name))
	}
	get := func(v any) C {
		p, ok := v.(*C)
		if !ok {
			panic(fmt.Sprintf("platform: %s: configuration of type %T, want *%T", d.Name, v, *new(C)))
		}
		return *p
	}
	title := d.Title
	if title == "" {
		title = d.Name
	}
	loginQR := func(any) string { return "" }
	if d.LoginQR != nil {
		loginQR = func(v any) string { return d.LoginQR(get(v)) }
	}
	secretFiles := func(any) []string { return nil }
	if d.SecretFiles != nil {
		secretFiles = func(v any) []string { return d.SecretFiles(get(v)) }
	}
	return Spec{
		secretEnvs:  d.SecretEnvs,
		secretFiles: secretFiles,
		loginQR:     loginQR,
		name:        d.Name,
		title:       title,
		toml:        d.TOML,
		newConfig: func() any {
			c := d.Default()
			return &c
		},
		enabled:  func(v any) bool { return d.Enabled(get(v)) },
		validate: func(v any) error { return get(v).Validate() },
		start:    func(v any, h bot.Handler, env Env) (Runner, error) { return d.New(get(v), h, env) },
	}
}

// Name is the configuration section and the adapter's name in logs.
func (s Spec) Name() string { return s.name }

// Title is the platform's name for people.
func (s Spec) Title() string { return s.title }

// TOML is the commented default section.
func (s Spec) TOML() string { return s.toml }

// NewConfig returns a pointer to a new configuration with every default
// (a *C of the Def), ready for a TOML decoder or an environment override.
func (s Spec) NewConfig() any { return s.newConfig() }

// Enabled reports whether cfg (from NewConfig) enables the adapter.
func (s Spec) Enabled(cfg any) bool { return s.enabled(cfg) }

// Validate checks cfg (from NewConfig), naming the section in its error.
func (s Spec) Validate(cfg any) error {
	if err := s.validate(cfg); err != nil {
		return fmt.Errorf("section %s: %w", s.name, err)
	}
	return nil
}

// Start builds the adapter for cfg (from NewConfig) over h.
func (s Spec) Start(cfg any, h bot.Handler, env Env) (Runner, error) {
	r, err := s.start(cfg, h, env)
	if err != nil {
		return nil, startError{name: s.name, err: err}
	}
	return r, nil
}

// startError names the platform's section before an adapter's error,
// without repeating the name the adapter put first ("discord: …").
type startError struct {
	name string
	err  error
}

func (e startError) Error() string {
	return "[" + e.name + "] " + strings.TrimPrefix(e.err.Error(), e.name+": ")
}

func (e startError) Unwrap() error { return e.err }

// LoginQR names the login QR code image of cfg (from NewConfig); "" when
// the platform has none.
func (s Spec) LoginQR(cfg any) string {
	if s.loginQR == nil {
		return ""
	}
	return s.loginQR(cfg)
}

// SecretEnvs are the environment variables holding the platform's secrets.
func (s Spec) SecretEnvs() []string { return s.secretEnvs }

// SecretFiles are the files cfg (from NewConfig) names for secrets.
func (s Spec) SecretFiles(cfg any) []string {
	if s.secretFiles == nil {
		return nil
	}
	return s.secretFiles(cfg)
}

// Table is the command's list of platforms, in the order they appear in
// the configuration file and in help.
type Table []Spec

// ErrDuplicate is returned by Check for two platforms of one name.
var ErrDuplicate = errors.New("platform registered twice")

// Check reports a name used twice or one that collides with reserved,
// the command's own sections.
func (t Table) Check(reserved ...string) error {
	seen := map[string]bool{}
	for _, r := range reserved {
		seen[r] = true
	}
	for _, s := range t {
		if seen[s.name] {
			return fmt.Errorf("%w: %q", ErrDuplicate, s.name)
		}
		seen[s.name] = true
	}
	return nil
}

// Lookup finds a platform by name.
func (t Table) Lookup(name string) (Spec, bool) {
	for _, s := range t {
		if s.name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Names lists the section names, in order.
func (t Table) Names() []string {
	out := make([]string, len(t))
	for i, s := range t {
		out[i] = s.name
	}
	return out
}

// Titles lists the platforms' titles, in order.
func (t Table) Titles() []string {
	out := make([]string, len(t))
	for i, s := range t {
		out[i] = s.title
	}
	return out
}
