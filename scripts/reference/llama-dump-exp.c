// llama-dump-exp: writes model/arch/testdata/ggml-exp-x64.bin, what
// ggml's exponential and SiLU give on a fixed set of inputs, from the real
// libggml-cpu-x64.so bundled with node-llama-cpp (the portable x86-64
// build, whose softmax and SiLU use the SSE2 ggml_v_expf). model/arch's
// expf and silu must reproduce every bit. Developer tool only; run by
// llama-dump-exp.sh.
//
//   llama-dump-exp libggml-cpu-x64.so > ggml-exp-x64.bin
//
// Output: u32 n (little-endian), then n records of three float32s: x,
// ggml_vec_soft_max_f32's exp(x - 0) and ggml_vec_silu_f32's silu(x).
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RANDOM = 1 << 14 };

static uint32_t state = 0x9e3779b9u;

static uint32_t next(void) { // xorshift32
	state ^= state << 13;
	state ^= state >> 17;
	state ^= state << 5;
	return state;
}

static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(next() >> 8) / 16777216.0f; }

static float from_bits(uint32_t b) {
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s libggml-cpu-x64.so > ggml-exp-x64.bin\n", argv[0]);
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	double (*soft_max)(int, float *, const float *, float) = (double (*)(int, float *, const float *, float))dlsym(h, "ggml_vec_soft_max_f32");
	void (*silu)(int, float *, const float *) = (void (*)(int, float *, const float *))dlsym(h, "ggml_vec_silu_f32");
	if (!soft_max || !silu) {
		fprintf(stderr, "ggml_vec_soft_max_f32 or ggml_vec_silu_f32 missing from %s\n", argv[1]);
		return 1;
	}
	float *x = malloc(sizeof(float) * (RANDOM + 8192));
	int n = 0;
	// Edges: zeros, infinities, NaN, the overflow and underflow limits and
	// the thresholds of ggml_v_expf's slow path (|n| > 126 and > 192,
	// n = round(x/ln 2)), each with its float neighbours.
	const float edges[] = {0.0f, 1.0f, 0.5f, 88.3762626647949f, 88.72283935546875f, 89.0f, 87.33654475f, 87.68311f,
		103.972077083991796f, 104.0f, 133.0843f, 133.4309f, 126.0f, 150.0f, 0.34657359f, 1e-7f, 1e-30f, 1.5e-45f};
	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		for (int s = -1; s <= 1; s += 2) {
			float v = edges[i] * s;
			x[n++] = nextafterf(v, -INFINITY);
			x[n++] = v;
			x[n++] = nextafterf(v, INFINITY);
		}
	}
	x[n++] = INFINITY;
	x[n++] = -INFINITY;
	x[n++] = NAN;
	// Every 2^20th float32 bit pattern: all exponents and signs.
	for (uint64_t b = 0; b < 1ull << 32; b += 1u << 20)
		x[n++] = from_bits((uint32_t)b);
	// Uniform in the ranges softmax (x - max <= 0) and SiLU meet.
	for (int i = 0; i < RANDOM / 2; i++)
		x[n++] = uniform(-30.0f, 0.0f);
	for (int i = 0; i < RANDOM / 4; i++)
		x[n++] = uniform(-12.0f, 12.0f);
	for (int i = 0; i < RANDOM / 4; i++)
		x[n++] = uniform(-110.0f, 95.0f);
	while (n % 4)
		x[n++] = 0.0f; // whole SSE2 groups: no element takes the scalar path
	float *e = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
	soft_max(n, e, x, 0.0f);
	silu(n, s, x);
	uint32_t un = (uint32_t)n;
	fwrite(&un, 4, 1, stdout);
	for (int i = 0; i < n; i++) {
		fwrite(&x[i], 4, 1, stdout);
		fwrite(&e[i], 4, 1, stdout);
		fwrite(&s[i], 4, 1, stdout);
	}
	fprintf(stderr, "llama-dump-exp: %d inputs\n", n);
	return 0;
}
