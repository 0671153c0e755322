//go:build noasm || !amd64

package train

func dot32(a, b []float32) float32 { return dotGo(a, b) }

func axpy32(y []float32, a float32, x []float32) { axpyGo(y, a, x) }
