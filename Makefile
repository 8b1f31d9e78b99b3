# kiln: build the compiler (build/kilnc) and the runtime library (build/libkiln_rt.a),
# run the tests, the demo and the benchmarks. `make test` and `make demo` install missing
# Debian packages first (scripts/deps.sh).

CC      ?= gcc
BUILD   := build
WARN    := -Wall -Wextra -Wpedantic -Werror
CFLAGS  := -std=c11 -O2 -g $(WARN) -D_POSIX_C_SOURCE=200809L $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)
# What a program that reads or writes audio through the runtime links (runtime/cli/audio.c)
AUDIO_LIBS := -lsndfile -lsoxr
# What a program that serves Moshi's WebSocket protocol links (runtime/cli/ogg_opus.c, serve.c)
SERVER_LIBS := -lwebsockets -lopus -logg
# What a program that turns text tokens into pieces links (runtime/cli/tokenizer.cc, C++)
TEXT_LIBS  := -lsentencepiece -lstdc++
CXX      ?= g++
CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror $(EXTRA_CFLAGS)

# LLVM 19's C API, for the LLVM back end (compiler/kir_llvm.c): Debian's llvm-19-dev
LLVM_CONFIG  := llvm-config-19
LLVM_CFLAGS  := -I$(shell $(LLVM_CONFIG) --includedir 2>/dev/null)
LLVM_LIBS    := -L$(shell $(LLVM_CONFIG) --libdir 2>/dev/null) -lLLVM-19

COMPILER_SRC := $(wildcard compiler/*.c)
RUNTIME_SRC  := $(wildcard runtime/*.c)
# The binaries' command line (runtime/cli/): the only part of the runtime that links audio, text and
# network libraries; a model's libNAME.a holds the runtime without it
CLI_SRC      := $(wildcard runtime/cli/*.c)
# (kilnc shares runtime/cpu.c, what this CPU runs, with the runtime: for --target native)
COMPILER_OBJ := $(COMPILER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/lexer.o $(BUILD)/gen/parser.o $(BUILD)/runtime/cpu.o
RUNTIME_OBJ  := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ      := $(CLI_SRC:%.c=$(BUILD)/%.o) $(BUILD)/runtime/cli/tokenizer.o
UNIT_SRC     := $(wildcard tests/unit/*.c)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-asan test-cross test-moshiko demo bench bench-context bench-converse bench-llama examples clean fuzz fuzz-replay
all: $(BUILD)/kilnc $(BUILD)/libkiln_rt.a $(BUILD)/libkiln_cli.a $(BUILD)/npycmp $(BUILD)/npyedit $(BUILD)/gen_ttt $(BUILD)/gen_kernels $(BUILD)/kir_gen $(BUILD)/chat_client $(UNIT_BIN)

deps:
	@scripts/deps.sh

# The lexer and parser, generated into $(1)/gen and compiled there by $($(2)) $($(3)) (variable
# names: their values hold commas); once for each build folder that needs them.
define GEN_RULES
$(1)/gen/lexer.c $(1)/gen/lexer.h &: compiler/lexer.l
	@mkdir -p $(1)/gen
	flex -o $(1)/gen/lexer.c --header-file=$(1)/gen/lexer.h $$<

$(1)/gen/parser.c $(1)/gen/parser.h &: compiler/parser.y
	@mkdir -p $(1)/gen
	bison -d -o $(1)/gen/parser.c $$<

$(1)/gen/%.o: $(1)/gen/%.c $(1)/gen/parser.h $(1)/gen/lexer.h
	$$($(2)) $$($(3)) -Icompiler -I$(1)/gen -c $$< -o $$@
endef
$(eval $(call GEN_RULES,$(BUILD),CC,CFLAGS))

$(BUILD)/compiler/%.o: compiler/%.c $(wildcard compiler/*.h) $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icompiler -Iruntime -I$(BUILD)/gen -c $< -o $@

$(BUILD)/runtime/%.o: runtime/%.c $(wildcard runtime/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp -Iruntime -c $< -o $@

$(BUILD)/runtime/cli/%.o: runtime/cli/%.c $(wildcard runtime/*.h runtime/cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp -Iruntime -Iruntime/cli -c $< -o $@

$(BUILD)/runtime/cli/%.o: runtime/cli/%.cc runtime/cli/tokenizer.h
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -Iruntime/cli -c $< -o $@

$(BUILD)/compiler/kir_llvm.o: CFLAGS += $(LLVM_CFLAGS)

$(BUILD)/kilnc: $(COMPILER_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LLVM_LIBS) -lcjson -lm

$(BUILD)/libkiln_rt.a: $(RUNTIME_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libkiln_cli.a: $(CLI_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkiln_cli.a $(BUILD)/libkiln_rt.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp -Iruntime -Iruntime/cli -Itests -o $@ $< $(BUILD)/libkiln_cli.a $(BUILD)/libkiln_rt.a $(LDFLAGS) $(AUDIO_LIBS) $(SERVER_LIBS) $(TEXT_LIBS) -lm

# the kernel IR and the kernels built on it (what gen_ttt, gen_kernels and kir_gen need of kilnc)
KIR_SRC     := compiler/kir.c compiler/kir_data.c compiler/kir_check.c compiler/kir_c.c compiler/kernels.c compiler/kernels_attention.c \
               compiler/kernels_matmul.c compiler/kernels_packed.c compiler/kernels_quant.c compiler/kernels_ttt.c compiler/plan.c compiler/ir.c \
               compiler/ttt_shape.c compiler/model.c
GEN_TTT_SRC := tests/ttt/gen_ttt.c compiler/target.c runtime/cpu.c $(KIR_SRC)
$(BUILD)/gen_ttt: $(GEN_TTT_SRC) $(wildcard compiler/*.h)
	$(CC) $(CFLAGS) -Icompiler -Iruntime -o $@ $(GEN_TTT_SRC) $(LDFLAGS) -lm

GEN_KERNELS_SRC := tests/bench/gen_kernels.c compiler/target.c runtime/cpu.c $(KIR_SRC)
$(BUILD)/gen_kernels: $(GEN_KERNELS_SRC) $(wildcard compiler/*.h)
	$(CC) $(CFLAGS) -Icompiler -Iruntime -o $@ $(GEN_KERNELS_SRC) $(LDFLAGS) -lm

# The kernel IR's test kernels from both back ends (tests/kir.sh)
KIR_GEN_SRC := tests/kir/kir_gen.c compiler/kir_llvm.c compiler/target.c runtime/cpu.c $(KIR_SRC)
$(BUILD)/kir_gen: $(KIR_GEN_SRC) $(wildcard compiler/*.h)
	$(CC) $(CFLAGS) $(LLVM_CFLAGS) -Icompiler -Iruntime -o $@ $(KIR_GEN_SRC) $(LDFLAGS) $(LLVM_LIBS) -lm

$(BUILD)/npycmp: tests/tools/npycmp.c $(BUILD)/libkiln_rt.a
	$(CC) $(CFLAGS) -Iruntime -o $@ $< $(BUILD)/libkiln_rt.a $(LDFLAGS) -fopenmp -lm

$(BUILD)/npyedit: tests/tools/npyedit.c $(BUILD)/libkiln_rt.a
	$(CC) $(CFLAGS) -Iruntime -o $@ $< $(BUILD)/libkiln_rt.a $(LDFLAGS) -fopenmp -lm

# A WebSocket client of the chat server's protocol, well-behaved or not (tests/serve/chat_client.c)
$(BUILD)/chat_client: tests/serve/chat_client.c tests/serve/websocket.c tests/serve/websocket.h runtime/cli/ogg_opus.c runtime/cli/ogg_opus.h
	$(CC) $(CFLAGS) -Iruntime/cli -o $@ tests/serve/chat_client.c tests/serve/websocket.c runtime/cli/ogg_opus.c $(LDFLAGS) -lopus -logg -lm

# Programs that embed a generated model through its header (examples/README.md).
examples: $(BUILD)/examples/two_streams
$(BUILD)/examples/lm_attn_a/liblm_attn_a.a: graphs/lm_attn_a.kiln $(BUILD)/kilnc $(BUILD)/libkiln_rt.a
	KILN_EXTRA_CFLAGS="$(EXTRA_CFLAGS)" $(BUILD)/kilnc $< --emit lib -o $(BUILD)/examples/lm_attn_a
$(BUILD)/examples/two_streams: examples/two_streams.c $(BUILD)/examples/lm_attn_a/liblm_attn_a.a
	$(CC) $(CFLAGS) -I$(BUILD)/examples/lm_attn_a -o $@ $< $(BUILD)/examples/lm_attn_a/liblm_attn_a.a $(LDFLAGS) -fopenmp -lm

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh

# The same suite with AddressSanitizer and UndefinedBehaviorSanitizer in the compiler, the runtime
# and every generated binary (kilnc passes KILN_EXTRA_CFLAGS to the C compiler).
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan EXTRA_CFLAGS="$(SAN) -O1" EXTRA_LDFLAGS="$(SAN)" all
	@KILN_BUILD=build-asan KILN_EXTRA_CFLAGS="$(SAN) -O1" KILN_LONG_STEPS=8000 tests/run.sh

# Every target against the goldens: native, avx2, avx512 and neon through SIMDe, neon
# cross-compiled and run under qemu-aarch64 (also part of `make test`).
test-cross: deps
	@$(MAKE) --no-print-directory all
	@sh tests/targets.sh | tail -n 20

# Moshi 7B from a checkpoint shaped as moshiko's (15.4 GB of BF16, written once into build/moshiko):
# packed to q4, streamed from the .kw, the f32 build refused for memory (scripts/test_moshiko.sh)
test-moshiko: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/test_moshiko.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh

# Whole conversations (converse) with the mid-size LM and Moshi 7B beside the released Mimi
# (scripts/bench_converse.sh; also the last part of make bench)
bench-converse: deps
	@$(MAKE) --no-print-directory all
	@scripts/bench_converse.sh

# llama.cpp against kiln, Moshi 7B's temporal shape at q4_0 and q8_0, in one process (LLAMA_CPP: a
# llama.cpp tree built with CMake; scripts/bench_llama.sh)
bench-llama: deps
	@$(MAKE) --no-print-directory all
	@LLAMA_CPP=$(LLAMA_CPP) scripts/bench_llama.sh

bench-context: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@scripts/bench_context.sh

clean:
	rm -rf build build-asan build-fuzz generated/*/

# ---- Fuzzing (docs/fuzzing.md) ----
# `make fuzz`: each libFuzzer harness of tests/fuzz/ (clang-14, ASan and UBSan) runs FUZZ_RUNS
# inputs, or FUZZ_TIME seconds at most, from a scratch copy of tests/fuzz/corpus/NAME/ (plus the
# inputs of tests/fuzz/crashes/NAME/), and prints its executions and time. Any crash, leak, hang
# (FUZZ_TIMEOUT seconds on one input) or use of more than 2 GiB fails the target; the input is left
# in $(FUZZ_DIR)/artifacts/NAME/. FUZZ_MERGE=1 merges the inputs that add coverage into the corpus.
FUZZ_CC        := clang-14
FUZZ_DIR       := $(BUILD)-fuzz/libfuzzer
FUZZ_RUNS      ?= 1000000
FUZZ_TIME      ?= 600
FUZZ_TIMEOUT   ?= 10
FUZZ_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS    := -std=c11 -O1 -g $(WARN) -D_POSIX_C_SOURCE=200809L $(FUZZ_SAN) -fsanitize=fuzzer-no-link
# (one harness per folder of seeds: tests/fuzz/NAME.c and tests/fuzz/corpus/NAME/)
FUZZ_HARNESSES := $(notdir $(wildcard tests/fuzz/corpus/*))
# What the harnesses read: the front end without the driver (compiler/main.c), the importer, and
# the runtime's file readers. One archive: each harness links the members it uses.
FUZZ_LIB_SRC   := compiler/ast.c compiler/diag.c compiler/check.c compiler/check_eval.c compiler/model.c \
                  compiler/import.c compiler/import_moshi.c runtime/safetensors.c runtime/kw.c runtime/npy.c runtime/report.c \
                  runtime/weights.c runtime/pages.c runtime/memory.c runtime/cli/ogg_opus.c runtime/cli/chat_protocol.c
# The replay build (tests/fuzz.sh, part of make test): the same harnesses with the host compiler and
# the sanitizers, each linked with tests/fuzz/replay.c's main instead of libFuzzer's.
REPLAY_DIR     := $(BUILD)/fuzz
REPLAY_CFLAGS  := -std=c11 -O1 -g $(WARN) -D_POSIX_C_SOURCE=200809L $(FUZZ_SAN)

# Everything a set of harnesses needs in folder $(1): the library of FUZZ_LIB_SRC and one program
# per harness, compiled by $($(2)) $($(3)) and linked with $(4).
define FUZZ_RULES
$(call GEN_RULES,$(1),$(2),$(3))

$(1)/obj/%.o: %.c $(wildcard compiler/*.h runtime/*.h runtime/cli/*.h) $(1)/gen/parser.h $(1)/gen/lexer.h
	@mkdir -p $$(dir $$@)
	$$($(2)) $$($(3)) -Icompiler -Iruntime -Iruntime/cli -I$(1)/gen -c $$< -o $$@

$(1)/libfuzzed.a: $(FUZZ_LIB_SRC:%.c=$(1)/obj/%.o) $(1)/gen/lexer.o $(1)/gen/parser.o
	rm -f $$@ && ar rcs $$@ $$^

$(1)/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(1)/libfuzzed.a
	$$($(2)) $$($(3)) -Icompiler -Iruntime -Iruntime/cli -I$(1)/gen -o $$@ $$< $(4) $(1)/libfuzzed.a -lcjson -lopus -logg -lm
endef
$(eval $(call FUZZ_RULES,$(FUZZ_DIR),FUZZ_CC,FUZZ_CFLAGS,-fsanitize=fuzzer))
$(eval $(call FUZZ_RULES,$(REPLAY_DIR),CC,REPLAY_CFLAGS,tests/fuzz/replay.c))

# diag_suggest's edit distances, traced compare by compare, took half of every run's time.
$(FUZZ_DIR)/obj/compiler/diag.o: FUZZ_CFLAGS += -fno-sanitize-coverage=trace-cmp

# What tests/fuzz.sh runs: every harness for replay, and seeds.c (the weight-file seeds' writer).
$(REPLAY_DIR)/seeds: tests/fuzz/seeds.c $(wildcard tests/fuzz/*.h) $(REPLAY_DIR)/libfuzzed.a
	$(CC) $(REPLAY_CFLAGS) -Iruntime -Itests/fuzz -o $@ $< $(REPLAY_DIR)/libfuzzed.a -lm
fuzz-replay: $(FUZZ_HARNESSES:%=$(REPLAY_DIR)/%) $(REPLAY_DIR)/seeds

fuzz: $(FUZZ_HARNESSES:%=$(FUZZ_DIR)/%)
	@status=0; for name in $(FUZZ_HARNESSES); do \
	    scratch=$(FUZZ_DIR)/corpus/$$name artifacts=$(FUZZ_DIR)/artifacts/$$name/ log=$(FUZZ_DIR)/$$name.log; \
	    rm -rf $$scratch && mkdir -p $$scratch $$artifacts && cp tests/fuzz/corpus/$$name/* $$scratch/; \
	    start=$$(date +%s.%N); \
	    $(FUZZ_DIR)/$$name -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_TIME) -timeout=$(FUZZ_TIMEOUT) \
	        -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 -artifact_prefix=$$artifacts \
	        $$scratch tests/fuzz/crashes/$$name > $$log 2>&1; \
	    rc=$$?; end=$$(date +%s.%N); \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	    printf 'fuzz %-12s %9s executions in %6.1f s, corpus %s -> %s inputs: %s\n' $$name "$${runs:-?}" \
	        $$(awk "BEGIN { print $$end - $$start }") $$(ls tests/fuzz/corpus/$$name | wc -l) $$(ls $$scratch | wc -l) \
	        $$([ $$rc = 0 ] && echo ok || echo "FAILED (exit $$rc; see $$log and $$artifacts)"); \
	    if [ $$rc != 0 ]; then status=1; grep -E '^(==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' $$log | head -n 8; fi; \
	    if [ "$(FUZZ_MERGE)" = 1 ] && [ $$rc = 0 ]; then \
	        $(FUZZ_DIR)/$$name -merge=1 -close_fd_mask=3 tests/fuzz/corpus/$$name $$scratch >> $$log 2>&1 || status=1; \
	    fi; \
	done; exit $$status
