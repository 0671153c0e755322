package platform_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/adapters/platform"
	"github.com/chatloop/chatloop/bot"
)

type fakeConfig struct {
	Enabled bool
	Speed   int
}

var errSlow = errors.New("too slow")

func (c fakeConfig) Validate() error {
	if c.Speed < 1 {
		return errSlow
	}
	return nil
}

type fakeRunner struct{ cfg fakeConfig }

func (fakeRunner) Run(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

var errStart = errors.New("cannot start")

func fakeDef(name string) platform.Def[fakeConfig] {
	return platform.Def[fakeConfig]{
		Name:    name,
		Title:   "Fake",
		Default: func() fakeConfig { return fakeConfig{Speed: 3} },
		Enabled: func(c fakeConfig) bool { return c.Enabled },
		TOML:    "# a fake\n[" + name + "]\nenabled = false\nspeed = 3\n",
		New: func(c fakeConfig, h bot.Handler, env platform.Env) (platform.Runner, error) {
			if c.Speed > 10 {
				return nil, errStart
			}
			return fakeRunner{c}, nil
		},
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := fakeDef("fake").Spec()
	cfg := s.NewConfig()
	pc, ok := cfg.(*fakeConfig)
	if !ok {
		t.Fatalf("NewConfig() is %T, want *fakeConfig", cfg)
	}
	if pc.Speed != 3 || s.Enabled(cfg) {
		t.Fatalf("defaults %+v, enabled %v", *pc, s.Enabled(cfg))
	}
	if s.NewConfig() == cfg {
		t.Error("NewConfig returned the same pointer twice")
	}
	pc.Enabled = true
	if !s.Enabled(cfg) {
		t.Error("Enabled does not see the decoded value")
	}
	pc.Speed = 0
	if err := s.Validate(cfg); !errors.Is(err, errSlow) || !strings.Contains(err.Error(), "section fake") {
		t.Errorf("Validate = %v, want errSlow naming the section", err)
	}
	pc.Speed = 11
	if _, err := s.Start(cfg, nil, platform.Env{}); !errors.Is(err, errStart) || !strings.Contains(err.Error(), "[fake]") {
		t.Errorf("Start = %v, want errStart naming the section", err)
	}
	pc.Speed = 5
	r, err := s.Start(cfg, nil, platform.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.(fakeRunner).cfg.Speed; got != 5 {
		t.Errorf("the adapter got speed %d, want 5", got)
	}
	if qr := s.LoginQR(cfg); qr != "" {
		t.Errorf("LoginQR without a Def.LoginQR = %q", qr)
	}
	d := fakeDef("fake")
	d.LoginQR = func(c fakeConfig) string { return fmt.Sprintf("qr-%d.png", c.Speed) }
	if qr := d.Spec().LoginQR(cfg); qr != "qr-5.png" {
		t.Errorf("LoginQR = %q, want qr-5.png", qr)
	}
}

func TestDefMistakesPanic(t *testing.T) {
	for name, d := range map[string]platform.Def[fakeConfig]{
		"no name":   func() platform.Def[fakeConfig] { d := fakeDef("x"); d.Name = ""; return d }(),
		"no header": func() platform.Def[fakeConfig] { d := fakeDef("x"); d.TOML = "enabled = false\n"; return d }(),
		"no New":    func() platform.Def[fakeConfig] { d := fakeDef("x"); d.New = nil; return d }(),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			d.Spec()
		})
	}
}

func TestTable(t *testing.T) {
	tab := platform.Table{fakeDef("a").Spec(), fakeDef("b").Spec()}
	if err := tab.Check("bot", "model"); err != nil {
		t.Fatal(err)
	}
	if err := append(tab, fakeDef("a").Spec()).Check(); !errors.Is(err, platform.ErrDuplicate) {
		t.Errorf("a name twice: %v, want ErrDuplicate", err)
	}
	if err := tab.Check("b"); !errors.Is(err, platform.ErrDuplicate) {
		t.Errorf("a reserved name: %v, want ErrDuplicate", err)
	}
	if s, ok := tab.Lookup("b"); !ok || s.Name() != "b" {
		t.Errorf("Lookup(b) = %v, %v", s.Name(), ok)
	}
	if _, ok := tab.Lookup("c"); ok {
		t.Error("Lookup(c) found something")
	}
	if got := strings.Join(tab.Names(), ","); got != "a,b" {
		t.Errorf("Names = %s", got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("token refused")
	err := fmt.Errorf("discord: %w", platform.Permanent(base))
	if !errors.Is(err, platform.ErrPermanent) || !errors.Is(err, base) || err.Error() != "discord: token refused" {
		t.Errorf("Permanent: %v (is permanent %v, is base %v)", err, errors.Is(err, platform.ErrPermanent), errors.Is(err, base))
	}
	if errors.Is(base, platform.ErrPermanent) || platform.Permanent(nil) != nil {
		t.Error("an unmarked error is permanent, or platform.Permanent(nil) is not nil")
	}
}
