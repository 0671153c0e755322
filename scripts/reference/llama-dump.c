// llama-dump: runs a GGUF model in llama.cpp (node-llama-cpp's libllama and
// ggml, one chosen ggml CPU variant) exactly as engine-golden.mjs does
// (prompt in one batch, then one token per decode, F16 KV cache, no flash
// attention, 512 context) and writes
//
//   OUT/logits-S.f32   the logits after step S (S = 0: after the prompt;
//                      S = s: after feeding the s-th continuation token),
//                      as model's TestWriteStepLogits writes chatloop's
//   OUT/step-S/NAME.f32 and OUT/step-S/index.txt
//                      every tensor of the graph of step S (cb_eval),
//                      converted to float32 in ggml's order (ne[0]
//                      fastest), for each S in DUMPSTEPS; a name that
//                      repeats (the roped Qcur-0 after the product
//                      Qcur-0) is NAME#2, NAME#3. index.txt lists name,
//                      op, type and shape in the order computed.
//
// Observing tensors does not change llama.cpp's results: the logits of the
// dumped steps are those of a run without dumps.
//
// Developer tool only; built and run by llama-dump.sh, which takes the
// llama.cpp headers from node-llama-cpp's git bundle.
//
//   llama-dump CPU_BACKEND.so MODEL.gguf PROMPT_IDS CONT_IDS DUMPSTEPS OUT [THREADS]
//
// PROMPT_IDS and CONT_IDS are comma-separated token ids; DUMPSTEPS a
// comma-separated list of steps ("" for none).
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

static const char *out_dir;
static int cur_step = -1;
static bool dumping;
static FILE *index_file;

static int parse_ids(const char *s, int32_t **out) {
	int n = 0, cap = 16;
	int32_t *ids = malloc(cap * sizeof *ids);
	while (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s) {
			fprintf(stderr, "bad id list at %s\n", s);
			exit(2);
		}
		if (n == cap) {
			cap *= 2;
			ids = realloc(ids, cap * sizeof *ids);
		}
		ids[n++] = (int32_t)v;
		s = *end == ',' ? end + 1 : end;
	}
	*out = ids;
	return n;
}

static float element(const struct ggml_tensor *t, const char *p) {
	switch (t->type) {
	case GGML_TYPE_F32:
		return *(const float *)p;
	case GGML_TYPE_F16:
		return ggml_fp16_to_fp32(*(const ggml_fp16_t *)p);
	case GGML_TYPE_BF16:
		return ggml_bf16_to_fp32(*(const ggml_bf16_t *)p);
	case GGML_TYPE_I32:
		return (float)*(const int32_t *)p;
	default:
		return 0; // quantized tensors (the cache never is here) are not dumped
	}
}

// observe is the cb_eval callback: it asks for every tensor while a dump
// step runs and writes each one after it is computed.
static bool observe(struct ggml_tensor *t, bool ask, void *user) {
	(void)user;
	if (ask)
		return dumping;
	if (!dumping)
		return true;
	if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16 && t->type != GGML_TYPE_I32)
		return true;
	if (t->buffer && !ggml_backend_buffer_is_host(t->buffer))
		return true;
	// A name may repeat (llama.cpp names the roped Qcur as the product
	// before it): the second is NAME#2, and so on.
	char name[GGML_MAX_NAME + 16], path[4096];
	struct stat st;
	for (int k = 1;; k++) {
		if (k == 1)
			snprintf(name, sizeof name, "%s", t->name);
		else
			snprintf(name, sizeof name, "%s#%d", t->name, k);
		snprintf(path, sizeof path, "%s/step-%d/%s.f32", out_dir, cur_step, name);
		if (stat(path, &st) != 0)
			break;
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return true;
	}
	const char *base = t->data;
	for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
		for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
			for (int64_t i1 = 0; i1 < t->ne[1]; i1++)
				for (int64_t i0 = 0; i0 < t->ne[0]; i0++) {
					float v = element(t, base + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
					fwrite(&v, sizeof v, 1, f);
				}
	fclose(f);
	fprintf(index_file, "%s\t%s\t%s\t%lld %lld %lld %lld\n", name, ggml_op_desc(t), ggml_type_name(t->type),
		(long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
	return true;
}

static void write_logits(struct llama_context *ctx, int n_vocab, int step) {
	char path[4096];
	snprintf(path, sizeof path, "%s/logits-%d.f32", out_dir, step);
	FILE *f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), n_vocab, f);
	fclose(f);
}

static void begin_step(int step, const int32_t *dump, int n_dump) {
	cur_step = step;
	dumping = false;
	for (int i = 0; i < n_dump; i++)
		dumping |= dump[i] == step;
	if (!dumping)
		return;
	char path[4096];
	snprintf(path, sizeof path, "%s/step-%d", out_dir, step);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/step-%d/index.txt", out_dir, step);
	index_file = fopen(path, "w");
	if (!index_file) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void end_step(void) {
	if (index_file)
		fclose(index_file);
	index_file = NULL;
	dumping = false;
}

int main(int argc, char **argv) {
	if (argc < 7) {
		fprintf(stderr, "usage: %s CPU_BACKEND.so MODEL.gguf PROMPT_IDS CONT_IDS DUMPSTEPS OUT [THREADS]\n", argv[0]);
		return 2;
	}
	int32_t *prompt, *cont, *dump;
	int n_prompt = parse_ids(argv[3], &prompt);
	int n_cont = parse_ids(argv[4], &cont);
	int n_dump = parse_ids(argv[5], &dump);
	out_dir = argv[6];
	int threads = argc > 7 ? atoi(argv[7]) : 2;
	mkdir(out_dir, 0755);

	if (!ggml_backend_load(argv[1])) {
		fprintf(stderr, "cannot load ggml backend %s\n", argv[1]);
		return 1;
	}
	llama_backend_init();
	struct llama_model_params mp = llama_model_default_params();
	mp.n_gpu_layers = 0;
	struct llama_model *model = llama_model_load_from_file(argv[2], mp);
	if (!model) {
		fprintf(stderr, "cannot load %s\n", argv[2]);
		return 1;
	}
	int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

	// As engine-golden.mjs's context: 512 positions, batch 512, one
	// sequence, no flash attention, F16 cache.
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = 512;
	cp.n_batch = 512;
	cp.n_ubatch = 512;
	cp.n_seq_max = 1;
	cp.n_threads = threads;
	cp.n_threads_batch = threads;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.type_k = GGML_TYPE_F16;
	cp.type_v = GGML_TYPE_F16;
	cp.cb_eval = observe;
	cp.cb_eval_user_data = NULL;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	if (!ctx) {
		fprintf(stderr, "cannot create a context\n");
		return 1;
	}

	begin_step(0, dump, n_dump);
	if (llama_decode(ctx, llama_batch_get_one(prompt, n_prompt)) != 0) {
		fprintf(stderr, "decode of the prompt failed\n");
		return 1;
	}
	end_step();
	write_logits(ctx, n_vocab, 0);
	for (int s = 0; s < n_cont; s++) {
		begin_step(s + 1, dump, n_dump);
		if (llama_decode(ctx, llama_batch_get_one(&cont[s], 1)) != 0) {
			fprintf(stderr, "decode of step %d failed\n", s + 1);
			return 1;
		}
		end_step();
		write_logits(ctx, n_vocab, s + 1);
	}
	llama_free(ctx);
	llama_model_free(model);
	fprintf(stderr, "llama-dump: %d prompt tokens, %d steps, logits of %d in %s\n", n_prompt, n_cont, n_vocab, out_dir);
	return 0;
}
