package arch

// Llama 2 and 3 (and the families that ship as "llama": Mistral 7B,
// SmolLM, TinyLlama): RoPE on adjacent pairs, optional rope_freqs
// (Llama 3.1's frequency factors), Llama 3's chat template.
func init() {
	Register(Family{
		Name:     "llama",
		Tensors:  LlamaTensors,
		Keys:     LlamaKeys("llama"),
		Template: "llama3",
	})
}
