// ggml-golden: writes golden fixtures for chatloop's model/ggml package from
// the real ggml shipped with node-llama-cpp (libggml-base.so plus one
// libggml-cpu-<variant>.so). Developer tool only; see ggml-golden.sh.
//
// It declares the few ggml entry points it needs by hand (from ggml.h and
// ggml-cpu.h of the bundled llama.cpp release) and loads the libraries
// with dlopen, so no llama.cpp source is needed to build it.
//
// Output (stdout): a sequence of records
//   u16 name length, name bytes, u32 data length, data bytes
// all little-endian.
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

// Matrix shapes of every fixture.
enum { ROWS = 4, COLS = 512, N = ROWS * COLS };
#define ROWS_ALL ROWS
#define COLS_ALL COLS
enum { BATCH = 5 };

typedef void (*to_float_t)(const void *x, float *y, int64_t k);
typedef void (*from_float_t)(const float *x, void *y, int64_t k);
typedef void (*vec_dot_t)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);

struct type_traits { // struct ggml_type_traits
	const char *type_name;
	int64_t blck_size;
	int64_t blck_size_interleave;
	size_t type_size;
	bool is_quantized;
	to_float_t to_float;
	from_float_t from_float_ref;
};

struct type_traits_cpu { // struct ggml_type_traits_cpu
	from_float_t from_float;
	vec_dot_t vec_dot;
	int vec_dot_type; // enum ggml_type
	int64_t nrows;
};

static const struct type_traits *(*get_type_traits)(int);
static const struct type_traits_cpu *(*get_type_traits_cpu)(int);
static size_t (*quantize_chunk)(int, const float *, void *, int64_t, int64_t, int64_t, const float *);
static void (*cpu_init)(void);
static float (*fp16_to_fp32)(uint16_t);
static uint16_t (*fp32_to_fp16)(float);
static float (*bf16_to_fp32)(uint16_t);
static uint16_t (*fp32_to_bf16)(float);
static void (*cpu_fp32_to_fp16)(const float *, uint16_t *, int64_t);
static void (*cpu_fp32_to_bf16)(const float *, uint16_t *, int64_t);

struct init_params { // struct ggml_init_params
	size_t mem_size;
	void *mem_buffer;
	bool no_alloc;
};
static void *(*ctx_init)(struct init_params);
static void (*ctx_free)(void *);
static void *(*new_tensor_2d)(void *, int, int64_t, int64_t);
static void *(*mul_mat)(void *, void *, void *);
static void *(*new_graph)(void *);
static void (*build_forward_expand)(void *, void *);
static int (*graph_compute_with_ctx)(void *, void *, int);
static void *(*get_data)(const void *);

// mulmat runs the real ggml_mul_mat op (the CPU backend's full path,
// llamafile sgemm included where it applies) of rows×cols weights wq of
// type ty with n activation columns x, writing n×rows results.
static void mulmat(int ty, const void *wq, size_t wbytes, const float *x, int n, float *out) {
	struct init_params ip = {64 << 20, NULL, false};
	void *ctx = ctx_init(ip);
	void *a = new_tensor_2d(ctx, ty, COLS_ALL, ROWS_ALL);
	void *b = new_tensor_2d(ctx, 0, COLS_ALL, n);
	memcpy(get_data(a), wq, wbytes);
	memcpy(get_data(b), x, sizeof(float) * COLS_ALL * n);
	void *c = mul_mat(ctx, a, b);
	void *gf = new_graph(ctx);
	build_forward_expand(gf, c);
	if (graph_compute_with_ctx(ctx, gf, 1) != 0) {
		fprintf(stderr, "graph compute failed\n");
		exit(1);
	}
	memcpy(out, get_data(c), sizeof(float) * ROWS_ALL * n);
	ctx_free(ctx);
}

static void *sym(void *lib, const char *name) {
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "missing symbol %s: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

static void record(const char *name, const void *data, uint32_t n) {
	uint16_t l = (uint16_t)strlen(name);
	fwrite(&l, 2, 1, stdout);
	fwrite(name, 1, l, stdout);
	fwrite(&n, 4, 1, stdout);
	fwrite(data, 1, n, stdout);
}

static uint64_t rng_state;
static uint64_t next_u64(void) { // splitmix64
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static float uniform(void) { return (float)((next_u64() >> 40) * (1.0 / 16777216.0)); }
static float gauss(void) { return uniform() + uniform() + uniform() + uniform() - 2.0f; }


// Weight sets.
static void fill_weights(const char *set, float *w) {
	rng_state = 42;
	if (!strcmp(set, "normal")) {
		for (int i = 0; i < N; i++) w[i] = 0.05f * gauss();
	} else if (!strcmp(set, "wide")) {
		for (int i = 0; i < N; i++) {
			int blk = i / 32;
			float scale = 1e-3f * (float)(1 << (blk % 17));
			w[i] = scale * gauss();
			if (next_u64() % 97 == 0) w[i] *= 40.0f; // outliers
		}
	} else { // "special": awkward blocks between normal ones
		for (int i = 0; i < N; i++) w[i] = 0.02f * gauss();
		for (int b = 0; b < N / 32; b++) {
			float *x = w + 32 * b;
			switch (b % 12) {
			case 1: memset(x, 0, 32 * sizeof(float)); break;            // all zero
			case 2: for (int j = 0; j < 32; j++) x[j] = 0.125f; break;   // constant
			case 3: for (int j = 0; j < 32; j++) x[j] = -0.5f; break;    // negative constant
			case 4: memset(x, 0, 32 * sizeof(float)); x[7] = 0.3f; break; // one value
			case 5: for (int j = 0; j < 32; j++) x[j] = 1e-9f * gauss(); break; // tiny
			case 6: for (int j = 0; j < 32; j++) x[j] = 0.25f * (float)((j % 16) - 8); break; // on the grid
			case 7: for (int j = 0; j < 32; j++) x[j] = fabsf(gauss()); break; // all positive
			case 8: for (int j = 0; j < 32; j++) x[j] = -fabsf(gauss()) - 1.0f; break; // all negative
			case 9: for (int j = 0; j < 32; j++) x[j] = 3e4f * gauss(); break; // large
			default: break;
			}
		}
	}
}

// Activation sets.
static void fill_act(const char *set, float *x) {
	rng_state = 7;
	if (!strcmp(set, "normal")) {
		for (int i = 0; i < COLS; i++) x[i] = gauss();
		return;
	}
	// "special": ties for the int8 rounding, zero blocks, huge range.
	for (int i = 0; i < COLS; i++) x[i] = 3.0f * gauss();
	for (int b = 0; b < COLS / 32; b++) {
		float *v = x + 32 * b;
		switch (b % 8) {
		case 1: memset(v, 0, 32 * sizeof(float)); break;
		case 2: // amax 254, odd integers: x*127/254 lands exactly on .5
			for (int j = 0; j < 32; j++) v[j] = (float)(2 * (int)(next_u64() % 127) + 1) * ((j & 1) ? -1.0f : 1.0f);
			v[5] = 254.0f;
			break;
		case 3: for (int j = 0; j < 32; j++) v[j] = 1e-6f * gauss(); break;
		case 4: for (int j = 0; j < 32; j++) v[j] = 500.0f * gauss(); break;
		case 5: // amax 127: every value an integer, x*id exact
			for (int j = 0; j < 32; j++) v[j] = (float)((int)(next_u64() % 255) - 127);
			v[0] = -127.0f;
			break;
		default: break;
		}
	}
}

static const int types[] = {0 /*F32*/, 1 /*F16*/, 30 /*BF16*/, 8 /*Q8_0*/, 2 /*Q4_0*/, 3 /*Q4_1*/,
	6 /*Q5_0*/, 7 /*Q5_1*/, 10 /*Q2_K*/, 11 /*Q3_K*/, 12 /*Q4_K*/, 13 /*Q5_K*/, 14 /*Q6_K*/};
static const char *wsets[] = {"normal", "wide", "special"};
static const char *xsets[] = {"normal", "special"};

int main(int argc, char **argv) {
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s libggml-base.so libggml-cpu-VARIANT.so [cpu-only] > out.bin\n", argv[0]);
		return 2;
	}
	// cpu-only: leave out what libggml-base.so computes (the same for every
	// CPU variant): conversions tables, quantized weights, dequantization.
	bool cpu_only = argc == 4 && !strcmp(argv[3], "cpu-only");
	void *base = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
	if (!base) { fprintf(stderr, "%s\n", dlerror()); return 1; }
	void *cpu = dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL);
	if (!cpu) { fprintf(stderr, "%s\n", dlerror()); return 1; }
	get_type_traits = sym(base, "ggml_get_type_traits");
	quantize_chunk = sym(base, "ggml_quantize_chunk");
	fp16_to_fp32 = sym(base, "ggml_fp16_to_fp32");
	fp32_to_fp16 = sym(base, "ggml_fp32_to_fp16");
	bf16_to_fp32 = sym(base, "ggml_bf16_to_fp32");
	fp32_to_bf16 = sym(base, "ggml_fp32_to_bf16");
	get_type_traits_cpu = sym(cpu, "ggml_get_type_traits_cpu");
	cpu_init = sym(cpu, "ggml_cpu_init");
	cpu_fp32_to_fp16 = sym(cpu, "ggml_cpu_fp32_to_fp16");
	cpu_fp32_to_bf16 = sym(cpu, "ggml_cpu_fp32_to_bf16");
	ctx_init = sym(base, "ggml_init");
	ctx_free = sym(base, "ggml_free");
	new_tensor_2d = sym(base, "ggml_new_tensor_2d");
	mul_mat = sym(base, "ggml_mul_mat");
	new_graph = sym(base, "ggml_new_graph");
	build_forward_expand = sym(base, "ggml_build_forward_expand");
	get_data = sym(base, "ggml_get_data");
	graph_compute_with_ctx = sym(cpu, "ggml_graph_compute_with_ctx");
	cpu_init();

	uint32_t dims[2] = {ROWS, COLS};
	record("dims", dims, sizeof dims);

	// Half-precision conversions: every F16/BF16 pattern widened, and a set
	// of awkward float32 values narrowed by the portable and the CPU
	// backend's (F16C on AVX2 builds) conversions.
	{
		static float wide16[65536];
		for (int i = 0; i < 65536; i++) wide16[i] = fp16_to_fp32((uint16_t)i);
		if (!cpu_only) record("fp16_to_fp32", wide16, sizeof wide16);
		enum { M = 4096 };
		static float f[M];
		static uint16_t h[M], hc[M], b[M], bc[M];
		uint32_t specials[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001,
			0x477fe000, 0x477fefff, 0x477ff000, 0x47800000, 0x38800000, 0x387fc000, 0x33800000, 0x33000000,
			0x33000001, 0x32ffffff, 0x3f801000, 0x3f803000, 0x3f802fff, 0x3f808000, 0x3f818000};
		int ns = sizeof specials / sizeof specials[0];
		rng_state = 99;
		for (int i = 0; i < M; i++) {
			uint32_t u;
			if (i < ns) u = specials[i];
			else if (i % 2) { // random bit patterns
				u = (uint32_t)next_u64();
			} else { // exact halfway points between halves of random magnitude
				u = ((uint32_t)next_u64() & 0x8fffe000) | 0x1000;
			}
			memcpy(&f[i], &u, 4);
		}
		for (int i = 0; i < M; i++) { h[i] = fp32_to_fp16(f[i]); b[i] = fp32_to_bf16(f[i]); }
		cpu_fp32_to_fp16(f, hc, M);
		cpu_fp32_to_bf16(f, bc, M);
		record("narrow_in", f, sizeof f);
		if (!cpu_only) record("fp32_to_fp16", h, sizeof h);
		record("cpu_fp32_to_fp16", hc, sizeof hc);
		if (!cpu_only) record("fp32_to_bf16", b, sizeof b);
		record("cpu_fp32_to_bf16", bc, sizeof bc);
	}

	static float w[N], deq[N], x[COLS], dots[ROWS];
	static uint8_t q[N * 4], act[COLS * 4 + 4096];
	char name[128];
	for (size_t s = 0; s < sizeof wsets / sizeof wsets[0]; s++) {
		fill_weights(wsets[s], w);
		snprintf(name, sizeof name, "w/%s", wsets[s]);
		record(name, w, sizeof w);
	}
	for (size_t s = 0; s < sizeof xsets / sizeof xsets[0]; s++) {
		fill_act(xsets[s], x);
		snprintf(name, sizeof name, "x/%s", xsets[s]);
		record(name, x, sizeof x);
		// every activation format from_float produces (Q8_0, Q8_1, Q8_K, F16, BF16)
		int vts[] = {8, 9, 15, 1, 30};
		for (int k = 0; k < 5; k++) {
			const struct type_traits *vt = get_type_traits(vts[k]);
			const struct type_traits_cpu *vc = get_type_traits_cpu(vts[k]);
			size_t sz = COLS / vt->blck_size * vt->type_size;
			vc->from_float(x, act, COLS);
			snprintf(name, sizeof name, "act/%s/%s", vt->type_name, xsets[s]);
			record(name, act, (uint32_t)sz);
		}
	}
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		int ty = types[t];
		const struct type_traits *tt = get_type_traits(ty);
		const struct type_traits_cpu *tc = get_type_traits_cpu(ty);
		size_t row = COLS / tt->blck_size * tt->type_size;
		for (size_t s = 0; s < sizeof wsets / sizeof wsets[0]; s++) {
			fill_weights(wsets[s], w);
			size_t got = quantize_chunk(ty, w, q, 0, ROWS, COLS, NULL);
			if (got != row * ROWS) { fprintf(stderr, "%s: size %zu\n", tt->type_name, got); return 1; }
			snprintf(name, sizeof name, "q/%s/%s", tt->type_name, wsets[s]);
			if (!cpu_only) record(name, q, (uint32_t)got);
			if (tt->to_float) tt->to_float(q, deq, N);
			else memcpy(deq, q, sizeof deq); // F32 has no to_float
			snprintf(name, sizeof name, "deq/%s/%s", tt->type_name, wsets[s]);
			if (!cpu_only) record(name, deq, sizeof deq);
			if (ty == 10 || ty == 11) continue; // no kernels for Q2_K/Q3_K in chatloop
			for (size_t xs = 0; xs < sizeof xsets / sizeof xsets[0]; xs++) {
				fill_act(xsets[xs], x);
				get_type_traits_cpu(tc->vec_dot_type)->from_float(x, act, COLS);
				for (int r = 0; r < ROWS; r++) tc->vec_dot(COLS, &dots[r], 0, q + r * row, 0, act, 0, 1);
				snprintf(name, sizeof name, "dot/%s/%s/%s", tt->type_name, wsets[s], xsets[xs]);
				record(name, dots, sizeof dots);
				mulmat(ty, q, got, x, 1, dots);
				snprintf(name, sizeof name, "mulmat/%s/%s/%s", tt->type_name, wsets[s], xsets[xs]);
				record(name, dots, sizeof dots);
			}
			// a batch (prompt processing): columns "normal", "special" and
			// three scaled mixes of them
			{
				static float xb[BATCH * COLS], xn[COLS], outb[BATCH * ROWS];
				fill_act("normal", xn);
				fill_act("special", x);
				for (int i = 0; i < COLS; i++) {
					xb[i] = xn[i];
					xb[COLS + i] = x[i];
					xb[2 * COLS + i] = 0.5f * xn[i] - x[i];
					xb[3 * COLS + i] = 1e-3f * xn[i];
					xb[4 * COLS + i] = xn[i] * x[i];
				}
				snprintf(name, sizeof name, "xbatch");
				if (t == 0 && s == 0) record(name, xb, sizeof xb);
				mulmat(ty, q, got, xb, BATCH, outb);
				snprintf(name, sizeof name, "mulmat/%s/%s/batch", tt->type_name, wsets[s]);
				record(name, outb, sizeof outb);
			}
		}
	}
	return 0;
}
