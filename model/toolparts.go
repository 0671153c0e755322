package model

import "github.com/chatloop/chatloop/model/chat"

// ToolParts renders msgs, with tools offered, as the model's chat template
// does (chat.Template.ToolParts), cut into the template's markup and the
// messages' contents: how tune renders an answer's tool rounds, with the
// Tokenizer's TokenizeParts.
func (e *Engine) ToolParts(msgs []Message, tools []chat.Tool, addGenerationPrompt bool) []chat.Part {
	return e.tmpl.ToolParts(msgs, tools, addGenerationPrompt)
}
