package arch

// Qwen2 and Qwen2.5: biases on q, k and v (read when present), NeoX RoPE,
// ChatML.
func init() {
	Register(Family{
		Name:     "qwen2",
		RopeNeox: true,
		Tensors:  LlamaTensors,
		Keys:     LlamaKeys("qwen2"),
		Template: "chatml",
	})
}
