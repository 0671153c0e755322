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
