// llama-dump-sincosf: writes model/arch/testdata/glibc-sincosf.bin, what
// glibc's sinf, cosf and sincosf give on a fixed set of inputs. ggml's
// rope takes its cos/sin table from them (rope_yarn), so llama.cpp's
// results depend on their roundings, which are not correct ones (glibc
// 2.28 and later: up to 0.56 ulp); model/arch's sincosf must reproduce
// every bit. Developer tool only; run by llama-dump-exp.sh on an x86-64
// machine with FMA (glibc then uses its FMA build, as llama.cpp's process
// does on such a machine).
//
//   llama-dump-sincosf > glibc-sincosf.bin
//
// Output: u32 n (little-endian), then n records of five float32s: x,
// sinf(x), cosf(x) and sincosf's sine and cosine.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t state = 0x2545f491u;

static uint32_t next(void) { // xorshift32
	state ^= state << 13;
	state ^= state >> 17;
	state ^= state << 5;
	return state;
}

static uint32_t n;

static void record(float x) {
	volatile float v = x; // no constant folding: the library's functions
	float s = sinf(v), c = cosf(v), s2, c2;
	sincosf(v, &s2, &c2);
	fwrite(&x, 4, 1, stdout);
	fwrite(&s, 4, 1, stdout);
	fwrite(&c, 4, 1, stdout);
	fwrite(&s2, 4, 1, stdout);
	fwrite(&c2, 4, 1, stdout);
	n++;
}

int main(void) {
	uint32_t count = 0;
	fwrite(&count, 4, 1, stdout); // patched below
	// Every 2^19th bit pattern: all exponents (the tiny, polynomial, fast
	// and large reductions), both signs, infinities and NaNs.
	for (uint64_t b = 0; b < 1ull << 32; b += 1u << 19) {
		uint32_t u = (uint32_t)b;
		float f;
		memcpy(&f, &u, sizeof f);
		record(f);
	}
	// The angles of rope tables: position × base^(-2i/dims) for Qwen2.5
	// (base 1e6, 64 dims) and Llama 3 (500000, 128 dims, factors 1..8)
	// shapes at positions up to 32768.
	for (int k = 0; k < 2; k++) {
		float base = k ? 500000.0f : 1e6f;
		int dims = k ? 128 : 64;
		float scale = powf(base, -2.0f / dims);
		for (int j = 0; j < 48; j++) {
			int pos = (int)(next() % 32768);
			float theta = (float)pos;
			for (int i = 0; i < dims / 2; i++) {
				float ff = k ? 1 + (float)i * 8 / (dims / 2) : 1;
				record(theta / ff);
				theta *= scale;
			}
		}
	}
	// Uniform in [0, 40000) and [-4, 4).
	for (int i = 0; i < 4096; i++)
		record((float)(next() >> 8) / 16777216.0f * 40000.0f);
	for (int i = 0; i < 4096; i++)
		record((float)(next() >> 8) / 16777216.0f * 8.0f - 4.0f);
	fflush(stdout);
	if (fseek(stdout, 0, SEEK_SET) != 0) {
		fprintf(stderr, "llama-dump-sincosf: stdout must be a file\n");
		return 1;
	}
	fwrite(&n, 4, 1, stdout);
	fprintf(stderr, "llama-dump-sincosf: %u inputs\n", n);
	return 0;
}
