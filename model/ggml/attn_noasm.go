//go:build noasm || !amd64

package ggml

func scoresF16Asm(vecLevel, []float32, []uint16, int, []float32, float32) bool { return false }

func accumulateF16Asm(vecLevel, []float64, []uint16, int, []float32) bool { return false }
