# kiln: build the compiler (build/kilnc) and the runtime library (build/libkiln_rt.a),
# run the tests, the demo and the benchmarks. `make test` and `make demo` install missing
# Debian packages first (scripts/deps.sh).

CC      ?= gcc
BUILD   := build
WARN    := -Wall -Wextra -Wpedantic -Werror
CFLAGS  := -std=c11 -O2 -g $(WARN) -D_POSIX_C_SOURCE=200809L $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)

COMPILER_SRC := $(wildcard compiler/*.c)
RUNTIME_SRC  := $(wildcard runtime/*.c)
COMPILER_OBJ := $(COMPILER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/lexer.o $(BUILD)/gen/parser.o
RUNTIME_OBJ  := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC     := $(wildcard tests/unit/*.c)
UNIT_BIN     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-asan test-cross demo bench bench-context examples clean
all: $(BUILD)/kilnc $(BUILD)/libkiln_rt.a $(BUILD)/npycmp $(BUILD)/gen_ttt $(BUILD)/gen_kernels $(UNIT_BIN)

deps:
	@scripts/deps.sh

$(BUILD)/gen/lexer.c $(BUILD)/gen/lexer.h: compiler/lexer.l
	@mkdir -p $(BUILD)/gen
	flex -o $(BUILD)/gen/lexer.c --header-file=$(BUILD)/gen/lexer.h $<

$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h: compiler/parser.y
	@mkdir -p $(BUILD)/gen
	bison -d -o $(BUILD)/gen/parser.c $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h
	$(CC) $(CFLAGS) -Icompiler -I$(BUILD)/gen -c $< -o $@

$(BUILD)/compiler/%.o: compiler/%.c $(wildcard compiler/*.h) $(BUILD)/gen/parser.h $(BUILD)/gen/lexer.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icompiler -I$(BUILD)/gen -c $< -o $@

$(BUILD)/runtime/%.o: runtime/%.c $(wildcard runtime/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp -Iruntime -c $< -o $@

$(BUILD)/kilnc: $(COMPILER_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -lcjson -lm

$(BUILD)/libkiln_rt.a: $(RUNTIME_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkiln_rt.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp -Iruntime -Itests -o $@ $< $(BUILD)/libkiln_rt.a $(LDFLAGS) -lm

GEN_TTT_SRC := tests/ttt/gen_ttt.c compiler/emit_ttt.c compiler/ttt_shape.c compiler/target.c
$(BUILD)/gen_ttt: $(GEN_TTT_SRC) $(wildcard compiler/*.h)
	$(CC) $(CFLAGS) -Icompiler -o $@ $(GEN_TTT_SRC) $(LDFLAGS)

GEN_KERNELS_SRC := tests/bench/gen_kernels.c compiler/emit_matmul.c compiler/emit_kernels.c compiler/target.c \
                   compiler/plan.c compiler/ir.c
$(BUILD)/gen_kernels: $(GEN_KERNELS_SRC) $(wildcard compiler/*.h)
	$(CC) $(CFLAGS) -Icompiler -o $@ $(GEN_KERNELS_SRC) $(LDFLAGS) -lm

$(BUILD)/npycmp: tests/tools/npycmp.c $(BUILD)/libkiln_rt.a
	$(CC) $(CFLAGS) -Iruntime -o $@ $< $(BUILD)/libkiln_rt.a $(LDFLAGS) -fopenmp -lm

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

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@scripts/bench.sh

bench-context: deps
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@scripts/bench_context.sh

clean:
	rm -rf build build-asan generated/*/
