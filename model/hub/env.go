package hub

import (
	"os"
	"path/filepath"
	"strings"
)

// EndpointFromEnv is HF_ENDPOINT (a mirror such as https://hf-mirror.com),
// else DefaultEndpoint, without a trailing slash.
func EndpointFromEnv() string {
	if e := strings.TrimSpace(os.Getenv("HF_ENDPOINT")); e != "" {
		return strings.TrimRight(e, "/")
	}
	return DefaultEndpoint
}

// TokenFromEnv is HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the token
// "hf auth login" (huggingface-cli login) saved in $HF_HOME/token, else
// $XDG_CACHE_HOME/huggingface/token or ~/.cache/huggingface/token; ""
// when there is none.
func TokenFromEnv() string {
	for _, env := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(env)); t != "" {
			return t
		}
	}
	home := os.Getenv("HF_HOME")
	if home == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			home = filepath.Join(x, "huggingface")
		} else if h, err := os.UserHomeDir(); err == nil {
			home = filepath.Join(h, ".cache", "huggingface")
		}
	}
	if home == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(home, "token"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// CacheAt is the cache in dir, else (dir empty) in DefaultCacheDir.
func CacheAt(dir string) (Cache, error) {
	if dir != "" {
		return Cache{Dir: dir}, nil
	}
	d, err := DefaultCacheDir()
	return Cache{Dir: d}, err
}
