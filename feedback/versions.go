package feedback

import (
	"math"
	"sort"
	"strings"

	"github.com/chatloop/chatloop/bot"
)

// wilsonZ is the standard normal quantile for a two-sided 95 % interval.
const wilsonZ = 1.959963984540054

// ModelVersion names the model version that wrote an answer, for grouping
// approval: the model's name and quantization, and the first 12 hex digits
// of the base file's SHA-256 when it is known, e.g.
// "qwen2.5-0.5b-instruct Q8_0 @3f2a9c0d11e4". Two files with the same name
// but different weights are different versions.
func ModelVersion(m bot.ModelInfo) string { return versionOf(modelInfo(m)) }

func versionOf(m modelInfo) string {
	name := m.Name
	if name == "" {
		name = "(unknown)"
	}
	if m.Quantization != "" {
		name += " " + m.Quantization
	}
	if sha := strings.ToLower(m.SHA256); sha != "" {
		name += " @" + sha[:min(12, len(sha))]
	}
	return name
}

// Wilson returns the Wilson score interval for up successes out of n
// trials at 95 % confidence. It is the interval to show beside a small
// vote count: unlike the normal approximation it stays inside [0, 1] and
// is wide when n is small. With n = 0 it is [0, 1].
func Wilson(up, n int) (low, high float64) {
	if n <= 0 {
		return 0, 1
	}
	z2 := wilsonZ * wilsonZ
	nf := float64(n)
	p := float64(up) / nf
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := wilsonZ * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return max(0, centre-half), min(1, centre+half)
}

// VersionCount is what is counted for one model version.
type VersionCount struct {
	Version string `json:"version"`
	Answers int    `json:"answers"`
	Up      int    `json:"up"`
	Down    int    `json:"down"`
	// AB counts the A/B choices between this version's answers and
	// another version's, one entry per other version.
	AB []ABCount `json:"ab,omitempty"`
}

// ABCount is one version's record against another in A/B choices: how
// often a chooser preferred its answer (Wins) or the other's (Losses).
type ABCount struct {
	Against string `json:"against"`
	Wins    int    `json:"wins"`
	Losses  int    `json:"losses"`
}

// ABStat is an A/B record with the share of choices won and its 95 %
// Wilson interval (with no choices the share is 0 and the interval
// [0, 1]).
type ABStat struct {
	ABCount
	Choices int     `json:"choices"`
	WinRate float64 `json:"win_rate"`
	Low     float64 `json:"low"`
	High    float64 `json:"high"`
}

// VersionStat is one row of the approval table: the 👍 share of the votes
// on one model version's answers with its 95 % Wilson interval.
type VersionStat struct {
	VersionCount
	// Votes is Up + Down.
	Votes int `json:"votes"`
	// Approval is Up/Votes; Low and High bound it (95 % Wilson). With no
	// votes Approval is 0 and the interval is [0, 1].
	Approval float64 `json:"approval"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	// ABRecord is the version's A/B record against each other version it
	// was compared with, most compared first.
	ABRecord []ABStat `json:"ab_record,omitempty"`
}

// VersionStats turns counts per version into the approval table, most
// answered version first (ties by name). The CLI's `feedback stats`, the
// dashboard and /api/stats all show this one table.
func VersionStats(counts []VersionCount) []VersionStat {
	out := make([]VersionStat, 0, len(counts))
	for _, c := range counts {
		s := VersionStat{VersionCount: c, Votes: c.Up + c.Down}
		if s.Votes > 0 {
			s.Approval = float64(c.Up) / float64(s.Votes)
		}
		s.Low, s.High = Wilson(c.Up, s.Votes)
		for _, ab := range c.AB {
			r := ABStat{ABCount: ab, Choices: ab.Wins + ab.Losses}
			if r.Choices > 0 {
				r.WinRate = float64(ab.Wins) / float64(r.Choices)
			}
			r.Low, r.High = Wilson(ab.Wins, r.Choices)
			s.ABRecord = append(s.ABRecord, r)
		}
		sort.Slice(s.ABRecord, func(i, j int) bool {
			a, b := s.ABRecord[i], s.ABRecord[j]
			if a.Choices != b.Choices {
				return a.Choices > b.Choices
			}
			return a.Against < b.Against
		})
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Answers != out[j].Answers {
			return out[i].Answers > out[j].Answers
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// abTally counts A/B choices between versions as Stats reads them: first
// the choices (which answers they involve), then each answer's version
// from its summary.
type abTally struct {
	version map[string]string // answer id -> version, for answers in choices
	choices [][2]string       // winner, loser answer ids
}

func (t *abTally) choice(a, b, winner string) {
	if t.version == nil {
		t.version = map[string]string{}
	}
	loser := a
	if winner == a {
		loser = b
	}
	t.version[a], t.version[b] = "", ""
	t.choices = append(t.choices, [2]string{winner, loser})
}

// answer notes the version of answer id when a choice involves it.
func (t *abTally) answer(id, version string) {
	if _, ok := t.version[id]; ok {
		t.version[id] = version
	}
}

// addTo puts each version's record into counts. A choice between two
// answers of one version, or with an answer left out (demo, forgotten),
// counts for nothing.
func (t *abTally) addTo(counts map[string]*VersionCount) {
	type key struct{ v, against string }
	rec := map[key]*ABCount{}
	get := func(v, against string) *ABCount {
		k := key{v, against}
		if rec[k] == nil {
			rec[k] = &ABCount{Against: against}
		}
		return rec[k]
	}
	for _, c := range t.choices {
		w, l := t.version[c[0]], t.version[c[1]]
		if w == "" || l == "" || w == l || counts[w] == nil || counts[l] == nil {
			continue
		}
		get(w, l).Wins++
		get(l, w).Losses++
	}
	keys := make([]key, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].v != keys[j].v {
			return keys[i].v < keys[j].v
		}
		return keys[i].against < keys[j].against
	})
	for _, k := range keys {
		counts[k.v].AB = append(counts[k.v].AB, *rec[k])
	}
}
