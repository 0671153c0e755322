package model

import (
	"context"

	"github.com/chatloop/chatloop/model/chat"
)

// ToolParts renders msgs, with tools offered, as the model's chat template
// does (chat.Template.ToolParts), cut into the template's markup and the
// messages' contents: how tune renders an answer's tool rounds, with the
// Tokenizer's TokenizeParts.
func (e *Engine) ToolParts(msgs []Message, tools []chat.Tool, addGenerationPrompt bool) []chat.Part {
	return e.tmpl.ToolParts(msgs, tools, addGenerationPrompt)
}

// EmbedMessagesTools is EmbedMessages with the tools the model was
// offered rendered too, as the chat template's tool-calling form puts
// them in the prompt: a reward model's features of an answer that could
// call tools.
func (e *Engine) EmbedMessagesTools(ctx context.Context, msgs []Message, tools []chat.Tool, answer string) ([]float32, error) {
	cm := append(chatMessages(msgs), chat.Message{Role: "assistant", Content: answer})
	return e.embedTokens(ctx, e.templateTokens(cm, tools, false))
}
