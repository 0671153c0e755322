package feedback

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chatloop/chatloop/bot"
	"github.com/chatloop/chatloop/model/chat"
)

// toolFormats are the exports of toolStore kept as golden files.
var toolFormats = []string{FormatPreference, FormatKTO, FormatSFT, FormatOpenAIDPO, FormatOpenAISFT}

// TestExportToolsGolden: the exports of answers that called tools, byte
// for byte (testdata/export-tools-*.jsonl; go test -update rewrites them).
// The plain rows among them are the plain goldens' shape.
func TestExportToolsGolden(t *testing.T) {
	s := toolStore(t, filepath.Join(t.TempDir(), "feedback.db"))
	for _, f := range toolFormats {
		t.Run(f, func(t *testing.T) {
			got := exportString(t, s, ExportOptions{Format: f, MinScore: 1})
			path := filepath.Join("testdata", "export-tools-"+f+".jsonl")
			if *update {
				must(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			must(t, err)
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s export differs from %s (-want +got):\n%s", f, path, diff)
			}
		})
	}
}

// TestExportToolsRenderLikeJinja: the TRL rows with tool calls, exactly
// as exported (arguments as objects), rendered by the real Qwen2.5, Qwen3
// and Llama 3.1 chat templates with @huggingface/jinja
// (scripts/reference/export-tools-jinja.mjs wrote
// testdata/export-tools-jinja.json from the golden exports), give the
// text the model saw: the stored prompt, tool rounds and answer rendered
// by chatloop's templates, which model/chat checks against the same
// Jinja templates. So TRL trains on what the model read and wrote.
func TestExportToolsRenderLikeJinja(t *testing.T) {
	s := toolStore(t, filepath.Join(t.TempDir(), "feedback.db"))
	byText := map[string]bot.Answer{}
	for _, id := range []bot.AnswerID{"01Ta", "01Tb"} {
		a, err := s.Answer(bg, id)
		must(t, err)
		byText[a.Text] = a
	}
	b, err := os.ReadFile(filepath.Join("testdata", "export-tools-jinja.json"))
	must(t, err)
	var golden struct {
		Rows []struct {
			Format, Side, Last string
			Line               int
			Rendered           map[string]string
		}
	}
	must(t, json.Unmarshal(b, &golden))
	bos := map[string]string{"llama3.1": "<|begin_of_text|>"}
	n := 0
	for _, row := range golden.Rows {
		a, ok := byText[row.Last]
		if !ok {
			t.Fatalf("%s line %d %s: no stored answer ends with %q", row.Format, row.Line, row.Side, row.Last)
		}
		conv := append(append(append([]bot.Turn{}, a.Prompt...), a.Steps...), bot.Turn{Role: bot.RoleAssistant, Content: a.Text})
		for name, want := range row.Rendered {
			tmpl, err := chat.ByName(name)
			must(t, err)
			got := bos[name] + chat.RenderTools(tmpl, conv, a.Tools, false)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s line %d %s, %s (-jinja of the export +chatloop's rendering of the record):\n%s", row.Format, row.Line, row.Side, name, diff)
			}
			if !strings.Contains(want, "web_search") {
				t.Errorf("%s: the rendering offers no tool:\n%s", name, want)
			}
			n++
		}
	}
	if n != 3*5 { // preference: chosen and rejected; kto: both answers; sft: the upvoted one
		t.Errorf("compared %d renderings, want 15", n)
	}
}
