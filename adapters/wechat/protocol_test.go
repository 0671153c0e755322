package wechat

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chatloop/chatloop/adapters/wechat/ilink"
)

// TestOpenPicksProtocol checks that key protocol picks the adapter, that
// iLink is the default, and that both report the same platform.
func TestOpenPicksProtocol(t *testing.T) {
	if ilink.Platform != Platform {
		t.Fatalf("ilink reports platform %q, want %q", ilink.Platform, Platform)
	}
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.StorageFile = filepath.Join(dir, "wechat-login.json")
	cfg.ILinkStateFile = filepath.Join(dir, "wechat-ilink.json")
	if cfg.Protocol != ProtocolILink || cfg.ILinkBaseURL != "https://ilinkai.weixin.qq.com" {
		t.Fatalf("defaults: protocol %q, ilink_base_url %q", cfg.Protocol, cfg.ILinkBaseURL)
	}
	r, err := Open(cfg, &recorder{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*ilink.Adapter); !ok {
		t.Errorf("protocol ilink opened %T", r)
	}
	if got := cfg.QRPath(); got != filepath.Join(dir, "wechat-ilink-qr.png") {
		t.Errorf("iLink QR path %s", got)
	}

	cfg.Protocol = ProtocolWeb
	if r, err = Open(cfg, &recorder{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*Adapter); !ok {
		t.Errorf("protocol web opened %T", r)
	}
	if got := cfg.QRPath(); got != filepath.Join(dir, "wechat-login-qr.png") {
		t.Errorf("web QR path %s", got)
	}

	for name, mod := range map[string]func(*Config){
		"protocol":       func(c *Config) { c.Protocol = "webhook" },
		"ilink_base_url": func(c *Config) { c.Protocol, c.ILinkBaseURL = ProtocolILink, "ilinkai.weixin.qq.com" },
	} {
		bad := cfg
		mod(&bad)
		if _, err := Open(bad, &recorder{}, nil, nil); !errors.Is(err, ErrConfig) && !errors.Is(err, ilink.ErrConfig) {
			t.Errorf("%s: %v, want a configuration error", name, err)
		}
	}
}
