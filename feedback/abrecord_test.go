package feedback

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/chatloop/chatloop/bot"
)

// tunedAnswer is answer() written by the base with a tuned adapter.
func tunedAnswer(id, group string) bot.Answer {
	a := answer(id, group, "discord", "c1", "u1", t0, "hi")
	a.Model.Name += "+tuned-3f2a"
	a.Model.Adapters = []bot.AdapterVersion{{SHA256: strings.Repeat("3f2a", 16), Scale: 1, Short: "+tuned-3f2a"}}
	return a
}

// TestStatsABRecord counts A/B choices between versions: per version, its
// wins and losses against the other, with the Wilson interval of the
// share won; a choice between two answers of one version counts for
// neither.
func TestStatsABRecord(t *testing.T) {
	s := openTest(t, Options{})
	const base, tuned = "qwen2.5-0.5b-instruct Q8_0 @ab12", "qwen2.5-0.5b-instruct+tuned-3f2a Q8_0 @ab12"
	// Four offers base vs tuned: three voters prefer tuned in three of
	// them, base wins one; one offer is base vs base.
	for i, winTuned := range []bool{true, true, true, false} {
		g := string(rune('a' + i))
		b, tu := answer("B"+g, g, "discord", "c1", "u1", t0, "hi"), tunedAnswer("T"+g, g)
		must(t, s.RecordAnswer(bg, b))
		must(t, s.RecordAnswer(bg, tu))
		w, l := tu.ID, b.ID
		if !winTuned {
			w, l = l, w
		}
		must(t, s.Choose(bg, w, l, "discord", "v1"))
	}
	must(t, s.RecordAnswer(bg, answer("X1", "x", "discord", "c1", "u1", t0, "yo")))
	must(t, s.RecordAnswer(bg, answer("X2", "x", "discord", "c1", "u1", t0, "yo")))
	must(t, s.Choose(bg, "X1", "X2", "discord", "v1"))
	// The adapter is stored with the answer.
	got, err := s.Answer(bg, "Ta")
	must(t, err)
	if len(got.Model.Adapters) != 1 || got.Model.Adapters[0].Short != "+tuned-3f2a" || got.Model.Adapters[0].Scale != 1 {
		t.Errorf("stored adapters: %+v", got.Model.Adapters)
	}

	st, err := s.Stats(bg)
	must(t, err)
	if st.Choices != 5 {
		t.Errorf("choices: got %d, want 5", st.Choices)
	}
	byVersion := map[string]VersionStat{}
	for _, v := range st.Versions {
		byVersion[v.Version] = v
	}
	vt, vb := byVersion[tuned], byVersion[base]
	if vt.Answers != 4 || vb.Answers != 6 {
		t.Fatalf("versions: %+v", st.Versions)
	}
	if len(vt.ABRecord) != 1 || len(vb.ABRecord) != 1 {
		t.Fatalf("A/B records: tuned %+v, base %+v", vt.ABRecord, vb.ABRecord)
	}
	rt, rb := vt.ABRecord[0], vb.ABRecord[0]
	if rt.Against != base || rt.Wins != 3 || rt.Losses != 1 || rt.Choices != 4 || rt.WinRate != 0.75 {
		t.Errorf("tuned's record: %+v", rt)
	}
	if rb.Against != tuned || rb.Wins != 1 || rb.Losses != 3 || rb.WinRate != 0.25 {
		t.Errorf("base's record: %+v", rb)
	}
	// Wilson(3, 4) from Newcombe's formula, computed here by hand:
	// centre (0.75 + z²/8)/(1 + z²/4), half z·sqrt(0.75·0.25/4 + z²/64)/(1 + z²/4).
	z := 1.959963984540054
	den := 1 + z*z/4
	centre := (0.75 + z*z/8) / den
	half := z * math.Sqrt(0.75*0.25/4+z*z/64) / den
	if math.Abs(rt.Low-(centre-half)) > 1e-12 || math.Abs(rt.High-(centre+half)) > 1e-12 {
		t.Errorf("tuned's interval [%v, %v], want [%v, %v]", rt.Low, rt.High, centre-half, centre+half)
	}
	if math.Abs(rb.Low-(1-rt.High)) > 1e-12 {
		t.Errorf("base's interval [%v, %v] is not tuned's mirrored", rb.Low, rb.High)
	}
	// In JSON too.
	js, err := json.Marshal(st)
	must(t, err)
	if !bytes.Contains(js, []byte(`"ab_record":[{"against":"`+base+`","wins":3,"losses":1`)) {
		t.Errorf("JSON lacks the A/B record: %s", js)
	}

	// A choice against a demo answer (left out of stats) counts for
	// nothing.
	d := answer("D1", "d", "discord", "c1", "u1", t0, "hi")
	d.Model = bot.ModelInfo{Backend: BackendDemo, Name: "demo-echo"}
	must(t, s.RecordAnswer(bg, d))
	must(t, s.RecordAnswer(bg, answer("B9", "d", "discord", "c1", "u1", t0, "hi")))
	must(t, s.Choose(bg, "D1", "B9", "discord", "v1"))
	st, err = s.Stats(bg)
	must(t, err)
	for _, v := range st.Versions {
		if len(v.ABRecord) != 1 || v.ABRecord[0].Choices != 4 {
			t.Errorf("after a choice against a demo answer, %s: %+v", v.Version, v.ABRecord)
		}
	}
}

// TestExportVersionFilter keeps one version's answers: the full version,
// or its name and quantization without the digest.
func TestExportVersionFilter(t *testing.T) {
	s := openTest(t, Options{})
	must(t, s.RecordAnswer(bg, answer("B1", "g", "discord", "c1", "u1", t0, "hi")))
	must(t, s.RecordAnswer(bg, tunedAnswer("T1", "g")))
	must(t, s.Vote(bg, "B1", "discord", "v", 1))
	must(t, s.Vote(bg, "T1", "discord", "v", -1))
	for _, c := range []struct {
		version string
		want    []string
	}{
		{"", []string{"B1", "T1"}},
		{"qwen2.5-0.5b-instruct Q8_0 @ab12", []string{"B1"}},
		{"qwen2.5-0.5b-instruct+tuned-3f2a Q8_0", []string{"T1"}},
		{"qwen2.5-0.5b-instruct", []string{"B1"}},
		{"qwen2.5-0.5b-instruct+tuned-ffff", nil},
	} {
		var buf bytes.Buffer
		n, err := s.Export(bg, &buf, ExportOptions{Format: FormatKTO, Version: c.version})
		must(t, err)
		if n != len(c.want) {
			t.Errorf("--version %q: %d rows, want %v:\n%s", c.version, n, c.want, buf.String())
		}
		for _, id := range c.want {
			want := map[string]string{"B1": `"label":true`, "T1": `"label":false`}[id]
			if !strings.Contains(buf.String(), want) {
				t.Errorf("--version %q: no row of %s:\n%s", c.version, id, buf.String())
			}
		}
	}
	// A preference pair needs both answers of the version.
	var buf bytes.Buffer
	n, err := s.Export(bg, &buf, ExportOptions{Format: FormatPreference, Version: "qwen2.5-0.5b-instruct Q8_0 @ab12"})
	must(t, err)
	if n != 0 {
		t.Errorf("a pair across versions was kept by a one-version filter: %s", buf.String())
	}
	n, err = s.Export(bg, &buf, ExportOptions{Format: FormatPreference})
	must(t, err)
	if n != 1 {
		t.Errorf("unfiltered: %d pairs, want 1", n)
	}
}
