//go:build noasm || !(amd64 || arm64)

package ggml

// cpuFeatures: without the assembly kernels (build tag noasm, or neither
// amd64 nor arm64) every kernel is the pure-Go one.
var cpuFeatures = features{}

// asmBuild: the assembly kernels are built in.
const asmBuild = false
