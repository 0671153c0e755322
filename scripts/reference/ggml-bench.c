// ggml-bench: times ggml's own mul_mat (matrix × one vector, the token
// generation shape) for the shapes of chatloop's BenchmarkMatVec, so the Go
// kernels can be compared with the real thing on the same machine.
// Build and run (developer tool, like ggml-golden.c):
//   gcc -O2 -o /tmp/ggml-bench scripts/reference/ggml-bench.c -ldl
//   B=scripts/reference/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   /tmp/ggml-bench $B/libggml-base.so $B/libggml-cpu-haswell.so 1
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct init_params { size_t mem_size; void *mem_buffer; bool no_alloc; };
struct type_traits { const char *type_name; int64_t blck_size; int64_t blck_size_interleave; size_t type_size; bool is_quantized; void *to_float; void *from_float_ref; };

static void *sym(void *lib, const char *name) {
	void *p = dlsym(lib, name);
	if (!p) { fprintf(stderr, "missing %s\n", name); exit(1); }
	return p;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: %s base.so cpu.so threads\n", argv[0]); return 2; }
	void *base = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL), *cpu = dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL);
	if (!base || !cpu) { fprintf(stderr, "%s\n", dlerror()); return 1; }
	int threads = atoi(argv[3]);
	void *(*ctx_init)(struct init_params) = sym(base, "ggml_init");
	void (*ctx_free)(void *) = sym(base, "ggml_free");
	void *(*new_tensor_2d)(void *, int, int64_t, int64_t) = sym(base, "ggml_new_tensor_2d");
	void *(*mul_mat)(void *, void *, void *) = sym(base, "ggml_mul_mat");
	void *(*new_graph)(void *) = sym(base, "ggml_new_graph");
	void (*expand)(void *, void *) = sym(base, "ggml_build_forward_expand");
	void *(*get_data)(const void *) = sym(base, "ggml_get_data");
	size_t (*quantize_chunk)(int, const float *, void *, int64_t, int64_t, int64_t, const float *) = sym(base, "ggml_quantize_chunk");
	const struct type_traits *(*traits)(int) = sym(base, "ggml_get_type_traits");
	int (*compute)(void *, void *, int) = sym(cpu, "ggml_graph_compute_with_ctx");
	((void (*)(void))sym(cpu, "ggml_cpu_init"))();

	int types[] = {0, 1, 30, 8, 2, 3, 6, 7, 12, 13, 14};
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		int ty = types[t];
		const struct type_traits *tt = traits(ty);
		int64_t rows = 4864, cols = tt->blck_size == 256 ? 1024 : 896;
		float *w = malloc(sizeof(float) * rows * cols);
		uint64_t st = 1;
		for (int64_t i = 0; i < rows * cols; i++) {
			st = st * 6364136223846793005ULL + 1442695040888963407ULL;
			w[i] = ((float)(st >> 40) / 16777216.0f - 0.5f) * 0.1f;
		}
		struct init_params ip = {(size_t)rows * cols * 4 + (64 << 20), NULL, false};
		void *ctx = ctx_init(ip);
		void *a = new_tensor_2d(ctx, ty, cols, rows);
		void *b = new_tensor_2d(ctx, 0, cols, 1);
		size_t bytes = quantize_chunk(ty, w, get_data(a), 0, rows, cols, NULL);
		float *x = get_data(b);
		for (int64_t i = 0; i < cols; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
		void *c = mul_mat(ctx, a, b);
		void *gf = new_graph(ctx);
		expand(gf, c);
		compute(ctx, gf, threads); // warm up
		double best = 1e9;
		for (int rep = 0; rep < 5; rep++) {
			int n = 20;
			double t0 = now();
			for (int i = 0; i < n; i++) compute(ctx, gf, threads);
			double dt = (now() - t0) / n;
			if (dt < best) best = dt;
		}
		printf("%-5s threads=%d %8.3f ms %8.1f MB/s\n", tt->type_name, threads, best * 1e3, bytes / best / 1e6);
		ctx_free(ctx);
		free(w);
	}
	return 0;
}
