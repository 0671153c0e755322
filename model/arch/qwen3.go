package arch

// Qwen3 (dense): per-head RMSNorm on queries and keys before RoPE, NeoX
// RoPE, no biases, ChatML.
func init() {
	Register(Family{
		Name:     "qwen3",
		RopeNeox: true,
		QKNorm:   true,
		Tensors:  LlamaTensors,
		Keys:     LlamaKeys("qwen3"),
		Template: "chatml",
	})
}
