package hub

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTokenFromEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	if got := TokenFromEnv(); got != "" {
		t.Errorf("no token anywhere: got %q", got)
	}
	if err := os.WriteFile(filepath.Join(home, "token"), []byte("hf_saved\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := TokenFromEnv(); got != "hf_saved" {
		t.Errorf("saved login: got %q", got)
	}
	t.Setenv("HF_TOKEN", "hf_env")
	if got := TokenFromEnv(); got != "hf_env" {
		t.Errorf("HF_TOKEN: got %q", got)
	}
}

func TestEndpointFromEnv(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "")
	if got := EndpointFromEnv(); got != DefaultEndpoint {
		t.Errorf("no HF_ENDPOINT: %q, want %q", got, DefaultEndpoint)
	}
	t.Setenv("HF_ENDPOINT", " https://hf-mirror.com/ ")
	if got := EndpointFromEnv(); got != "https://hf-mirror.com" {
		t.Errorf("HF_ENDPOINT mirror: %q", got)
	}
}
