//go:build noasm || !amd64

package arch

// expBest: without the assembly kernels swiglu and expSub are the Go ones.
const expBest = vecGo

func swigluAt(_ vecLevel, a, u []float32) { swigluGo(a, u) }

func expSubAt(_ vecLevel, s []float32, m float32) { expSubGo(s, m) }

// asmExp: the assembly forms are built in.
const asmExp = false
