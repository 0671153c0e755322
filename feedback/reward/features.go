package reward

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/chatloop/chatloop/model/chat"
)

// Backbone identifies what makes feature vectors: a head trained on one
// backbone's vectors means nothing on another's.
type Backbone struct {
	// SHA256 is the hex digest of the model file.
	SHA256 string `json:"sha256"`
	// Name is for messages (general.name or the file name).
	Name string `json:"name"`
	// Dim is the length of the vectors.
	Dim int `json:"dim"`
	// Feature names how a vector is taken from the model, e.g.
	// "last-token-final-norm/v1".
	Feature string `json:"feature"`
}

func (b Backbone) String() string {
	sum := b.SHA256
	if len(sum) > 12 {
		sum = sum[:12]
	}
	return fmt.Sprintf("%s (sha256 %s…, %d-dim %s)", b.Name, sum, b.Dim, b.Feature)
}

// Same reports whether vectors of b and o are interchangeable.
func (b Backbone) Same(o Backbone) bool {
	return b.SHA256 == o.SHA256 && b.Dim == o.Dim && b.Feature == o.Feature
}

// Featurizer turns a prompt and an answer into a feature vector of
// Backbone().Dim elements. For an answer that called tools, the prompt
// ends with its tool rounds (Conversation): the assistant tool calls and
// the tool results the model saw before it wrote the answer.
type Featurizer interface {
	Backbone() Backbone
	Features(ctx context.Context, prompt []Message, answer string) ([]float32, error)
}

// ToolFeaturizer is a Featurizer that also takes the tools the model was
// offered; Featurize uses it for rows with a "tools" column.
type ToolFeaturizer interface {
	FeaturesWithTools(ctx context.Context, tools []chat.Tool, prompt []Message, answer string) ([]float32, error)
}

// features asks f for the vector of (tools, prompt, answer): through
// FeaturesWithTools when there are tools and f takes them.
func features(ctx context.Context, f Featurizer, tools []chat.Tool, prompt []Message, answer string) ([]float32, error) {
	if tf, ok := f.(ToolFeaturizer); ok && len(tools) > 0 {
		return tf.FeaturesWithTools(ctx, tools, prompt, answer)
	}
	return f.Features(ctx, prompt, answer)
}

// Cache stores feature vectors in a bbolt file, keyed by the backbone and a
// hash of the prompt and answer, so that retraining after new votes only
// runs the backbone on what is new.
type Cache struct {
	db *bolt.DB
}

var cacheBucket = []byte("features")

// OpenCache opens (creating) the cache file at path.
func OpenCache(path string) (*Cache, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("reward: feature cache %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(cacheBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("reward: feature cache %s: %w", path, err)
	}
	return &Cache{db: db}, nil
}

// Close closes the file.
func (c *Cache) Close() error { return c.db.Close() }

// cacheKey is SHA-256(backbone sha, feature, prompt JSON, answer), and
// the tools' JSON when there are tools (keys without tools are as before).
func cacheKey(b Backbone, prompt []Message, answer string, tools ...chat.Tool) []byte {
	h := sha256.New()
	p, _ := json.Marshal(prompt)
	parts := [][]byte{[]byte(b.SHA256), []byte(b.Feature), p, []byte(answer)}
	if len(tools) > 0 {
		t, _ := json.Marshal(tools)
		parts = append(parts, t)
	}
	for _, s := range parts {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write(s)
	}
	return h.Sum(nil)
}

func (c *Cache) get(key []byte, dim int) []float32 {
	var out []float32
	c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(cacheBucket).Get(key)
		if len(v) != 4*dim {
			return nil
		}
		out = make([]float32, dim)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*i:]))
		}
		return nil
	})
	return out
}

// putAll writes entries (key, encoded vector) in one transaction.
func (c *Cache) putAll(entries [][2][]byte) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(cacheBucket)
		for _, e := range entries {
			if err := b.Put(e[0], e[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

func encodeVector(x []float32) []byte {
	v := make([]byte, 4*len(x))
	for i, f := range x {
		binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(f))
	}
	return v
}

// flushEvery is how many new vectors are written in one transaction.
const flushEvery = 128

// Cached returns a Featurizer that reads vectors from c and asks f only for
// those it lacks, storing them. Hits and Misses count the two.
func Cached(f Featurizer, c *Cache) *CachedFeaturizer {
	return &CachedFeaturizer{f: f, c: c}
}

// CachedFeaturizer is Featurizer with a Cache in front. New vectors are
// written in batches: call Flush when done (Featurize does).
type CachedFeaturizer struct {
	f            Featurizer
	c            *Cache
	pending      [][2][]byte
	Hits, Misses int
}

// Flush writes the vectors not yet in the file.
func (cf *CachedFeaturizer) Flush() error {
	if len(cf.pending) == 0 {
		return nil
	}
	err := cf.c.putAll(cf.pending)
	cf.pending = cf.pending[:0]
	if err != nil {
		return fmt.Errorf("reward: feature cache: %w", err)
	}
	return nil
}

// Backbone is the wrapped featurizer's.
func (cf *CachedFeaturizer) Backbone() Backbone { return cf.f.Backbone() }

// Features returns the cached vector, or computes and stores it.
func (cf *CachedFeaturizer) Features(ctx context.Context, prompt []Message, answer string) ([]float32, error) {
	return cf.FeaturesWithTools(ctx, nil, prompt, answer)
}

// FeaturesWithTools is Features with the tools offered (ToolFeaturizer).
func (cf *CachedFeaturizer) FeaturesWithTools(ctx context.Context, tools []chat.Tool, prompt []Message, answer string) ([]float32, error) {
	b := cf.f.Backbone()
	key := cacheKey(b, prompt, answer, tools...)
	if x := cf.c.get(key, b.Dim); x != nil {
		cf.Hits++
		return x, nil
	}
	x, err := features(ctx, cf.f, tools, prompt, answer)
	if err != nil {
		return nil, err
	}
	if len(x) != b.Dim {
		return nil, fmt.Errorf("reward: the backbone gave %d features, want %d", len(x), b.Dim)
	}
	cf.Misses++
	cf.pending = append(cf.pending, [2][]byte{key, encodeVector(x)})
	if len(cf.pending) >= flushEvery {
		if err := cf.Flush(); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// FeaturePair is a Pair as vectors; Group identifies its prompt, so that
// the held-out split keeps a prompt's pairs together.
type FeaturePair struct {
	Chosen, Rejected []float32
	Group            string
}

// FeaturePoint is a Point as a vector.
type FeaturePoint struct {
	X     []float32
	Label bool
	Group string
}

// FeatureSet is a Dataset as vectors of Dim elements.
type FeatureSet struct {
	Dim    int
	Pairs  []FeaturePair
	Points []FeaturePoint
}

// Featurize computes the vectors of ds with f, each distinct (prompt and
// tool steps, answer) once, calling progress (if not nil) after each with how many of
// total are done.
func Featurize(ctx context.Context, ds Dataset, f Featurizer, progress func(done, total int)) (FeatureSet, error) {
	set := FeatureSet{Dim: f.Backbone().Dim}
	type item struct {
		tools  []chat.Tool
		prompt []Message
		answer string
	}
	var order []item
	index := map[string]int{}
	group := func(prompt []Message) string {
		p, _ := json.Marshal(prompt)
		s := sha256.Sum256(p)
		return hex.EncodeToString(s[:8])
	}
	ref := func(tools []chat.Tool, prompt []Message, answer string) int {
		k := string(cacheKey(Backbone{}, prompt, answer, tools...))
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(order)
		order = append(order, item{tools, prompt, answer})
		return len(order) - 1
	}
	type pairRef struct{ c, r int }
	pairs := make([]pairRef, len(ds.Pairs))
	// An answer's tool rounds come between the prompt and its text, as
	// the model saw them, so the vectors (and the cache keys) see them.
	for i, p := range ds.Pairs {
		pairs[i] = pairRef{ref(p.Tools, Conversation(p.Prompt, p.ChosenSteps), p.Chosen), ref(p.Tools, Conversation(p.Prompt, p.RejectedSteps), p.Rejected)}
	}
	points := make([]int, len(ds.Points))
	for i, p := range ds.Points {
		points[i] = ref(p.Tools, Conversation(p.Prompt, p.Steps), p.Answer)
	}
	vecs := make([][]float32, len(order))
	flusher, _ := f.(interface{ Flush() error })
	if flusher != nil {
		// Keep what was computed even when a later answer fails.
		defer flusher.Flush()
	}
	for i, it := range order {
		if err := ctx.Err(); err != nil {
			return set, err
		}
		x, err := features(ctx, f, it.tools, it.prompt, it.answer)
		if err != nil {
			return set, fmt.Errorf("reward: features: %w", err)
		}
		if len(x) != set.Dim {
			return set, fmt.Errorf("reward: the backbone gave %d features, want %d", len(x), set.Dim)
		}
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return set, fmt.Errorf("%w: the backbone gave a non-finite feature", ErrInvalid)
			}
		}
		vecs[i] = x
		if progress != nil {
			progress(i+1, len(order))
		}
	}
	if flusher != nil {
		if err := flusher.Flush(); err != nil {
			return set, err
		}
	}
	for i, p := range pairs {
		set.Pairs = append(set.Pairs, FeaturePair{Chosen: vecs[p.c], Rejected: vecs[p.r], Group: group(ds.Pairs[i].Prompt)})
	}
	for i, p := range points {
		set.Points = append(set.Points, FeaturePoint{X: vecs[p], Label: ds.Points[i].Label, Group: group(ds.Points[i].Prompt)})
	}
	return set, nil
}
