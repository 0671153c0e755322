//go:build noasm || !amd64

package ggml

// cpuFeatures: without the assembly kernels (build tag noasm, or not
// amd64) every kernel is the pure-Go one.
var cpuFeatures = features{}

// asmBuild: the assembly kernels are built in.
const asmBuild = false
