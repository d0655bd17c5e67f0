# mnist-train — see README.md.  `make`, `make check`, `make check SANITIZE=1`, `make bench`.
CC       ?= cc
CFLAGS   ?= -O2 -g
WERROR   ?= -Werror
PREFIX   ?= /usr/local

PKGS     := zlib libdeflate libpng libcjson libcurl libjpeg libprotobuf-c
$(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,\
  $(error pkg-config cannot find '$(p)': bash deps.sh installs the Debian packages)))

PROTOC_C ?= protoc-c
ifeq (,$(shell command -v $(PROTOC_C)))
$(error '$(PROTOC_C)' not found: bash deps.sh installs the Debian packages (protobuf-c-compiler))
endif

MT_CFLAGS   = -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wvla $(WERROR) -pthread
MT_CPPFLAGS = -Iinclude -D_POSIX_C_SOURCE=200809L -MMD -MP \
              $(shell pkg-config --cflags $(PKGS))
MT_LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lm -pthread

ifeq ($(FUZZ),1)
# libFuzzer builds (make fuzz): clang only, coverage + ASan + UBSan everywhere.
BUILD      := build/fuzz
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
MT_CFLAGS  += $(FUZZ_FLAGS)
MT_LDFLAGS += -fsanitize=address,undefined
BIN        := $(BUILD)/mnist-train
# No reader reaches the SIMD kernels, and instrumenting their intrinsics takes
# clang many minutes: they are built plain.
$(patsubst %.c,$(BUILD)/%.o,$(wildcard src/kern/*_avx2.c src/kern/*_avx512.c src/kern/*_neon.c)): MT_CFLAGS := $(filter-out $(FUZZ_FLAGS),$(MT_CFLAGS))
else ifeq ($(SANITIZE),1)
BUILD      := build/san
MT_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
MT_LDFLAGS += -fsanitize=address,undefined
BIN        := $(BUILD)/mnist-train
else
BUILD      := build/rel
BIN        := mnist-train
endif

# Architecture-specific kernels get their own target flags so the default
# binary runs on any CPU of its architecture (dispatch happens at run time).
MACHINE  := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(MACHINE)))
ISA_SRC  := $(wildcard src/kern/*_avx2.c src/kern/*_avx512.c)
else ifneq (,$(findstring aarch64,$(MACHINE)))
ISA_SRC  := $(wildcard src/kern/*_neon.c)
endif
ISA_FLAGS_avx2   := -mavx2 -mfma
ISA_FLAGS_avx512 := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
ISA_FLAGS_neon   :=

APP_SRC  := $(wildcard src/main.c src/app_*.c)
APPLIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/app_*.c))
LIB_SRC  := $(wildcard src/mt_*.c) $(filter-out $(wildcard src/kern/*_avx2.c src/kern/*_avx512.c src/kern/*_neon.c),$(wildcard src/kern/*.c)) $(ISA_SRC)
# protoc-c turns proto/*.proto into C at build time (build/.../gen, never committed).
PROTO_SRC := $(wildcard proto/*.proto)
PROTO_C   := $(PROTO_SRC:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(PROTO_C:.c=.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH  := $(wildcard tests/test_*.sh)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tests/tools/%)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CC  ?= clang
FUZZ_RUNS ?= 4000

.PHONY: all check bench golden install clean features fuzz fuzz-bins fuzz-smoke
all: features $(BIN)

features:
	@printf '%s AVX2+FMA / AVX-512 kernels (x86-64)\n' $(if $(findstring x86_64,$(MACHINE)),✓,✗)
	@printf '%s NEON kernels (aarch64)\n' $(if $(findstring aarch64,$(MACHINE)),✓,✗)

$(BIN): $(BUILD)/src/main.o $(BUILD)/libapp.a $(BUILD)/libmt.a
	$(CC) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $^ $(MT_LDLIBS) $(LDLIBS)

# The command layer below main, so tests can link its base and services.
$(BUILD)/libapp.a: $(APPLIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/src/app_config.o: MT_CPPFLAGS += -DAPP_DATADIR='"$(PREFIX)/share/mnist-train"'

$(BUILD)/libmt.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	$(PROTOC_C) --c_out=$(@D) --proto_path=proto $<

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(MT_CPPFLAGS) -I$(BUILD)/gen $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) -c -o $@ $<

# Sources that use generated code: the headers must exist before they compile.
$(BUILD)/src/mt_onnx.o: $(PROTO_C:.c=.h)
$(BUILD)/src/mt_onnx.o: MT_CPPFLAGS += -I$(BUILD)/gen
$(BUILD)/tests/test_onnx: $(PROTO_C:.c=.h)
$(BUILD)/tests/test_onnx: MT_CPPFLAGS += -I$(BUILD)/gen

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(ISA_FLAGS_$(lastword $(subst _, ,$(basename $(notdir $<))))) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libapp.a $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libapp.a $(BUILD)/libmt.a $(shell pkg-config --cflags --libs cmocka) $(MT_LDLIBS) $(LDLIBS)

# Helpers the shell tests run (fixture makers), found through $$MT_TOOLS.
$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libmt.a $(MT_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libmt.a $(MT_LDLIBS) $(LDLIBS)

# Every test binary and every tests/test_*.sh runs; any failure fails `make check`.
check: $(BIN) $(TEST_BIN) $(TOOL_BIN)
	@pkg-config --exists cmocka || { echo "pkg-config cannot find 'cmocka' (Debian: libcmocka-dev)"; exit 1; }
	@fail=0; log=$(BUILD)/check.log; : >$$log; for t in $(TEST_BIN); do \
	    echo "== $$t"; { MT_BIN=$(abspath $(BIN)) $$t || echo "FAILED: $$t"; } 2>&1 | tee -a $$log; done; \
	for t in $(TEST_SH); do \
	    echo "== $$t"; { MT_BIN=$(abspath $(BIN)) MT_TOOLS=$(abspath $(BUILD)/tests/tools) bash $$t || echo "FAILED: $$t"; } 2>&1 | tee -a $$log; done; \
	grep -q '^FAILED: ' $$log && fail=1; \
	skips=$$(grep -E '^skip - |skipped: ' $$log | sed -E 's/^.*(skip - |skipped: )//' | sort | uniq -c); \
	echo; if [ -n "$$skips" ]; then \
	    echo "make check: skipped checks (count, reason):"; \
	    printf '%s\n' "$$skips"; fi; \
	if [ $$fail = 0 ]; then echo "make check: all tests passed"; \
	else echo "make check: FAILED ($$(grep '^FAILED: ' $$log | sed 's/FAILED: //' | tr '\n' ' '))"; exit 1; fi

# Fuzz harnesses (tests/fuzz/README.md).  `make fuzz` builds them with clang
# in build/fuzz and writes the seed corpora; without clang's libFuzzer runtime
# it says so and succeeds.  `make fuzz-smoke` runs each for FUZZ_RUNS inputs.
FUZZ_PROBE = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    | $(FUZZ_CC) -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
FUZZ_CAN = if ! command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	    echo "make $@: skipped: $(FUZZ_CC) not found (Debian: clang libclang-rt-14-dev)"; false; \
	elif ! $(FUZZ_PROBE); then \
	    echo "make $@: skipped: $(FUZZ_CC) cannot link -fsanitize=fuzzer (Debian: libclang-rt-14-dev)"; false; fi
fuzz:
	@if $(FUZZ_CAN); then $(MAKE) --no-print-directory FUZZ=1 CC=$(FUZZ_CC) fuzz-bins; fi

fuzz-bins: $(FUZZ_BIN) build/fuzz/corpus/.stamp

# (fuzz_config reads configs through the command layer's app_config: libapp.a)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(BUILD)/libapp.a $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(BUILD)/libapp.a $(BUILD)/libmt.a $(MT_LDLIBS) $(LDLIBS)

# Seeds come from fixtures the release binary writes (models, states), so it is built first.
build/fuzz/corpus/.stamp: tests/fuzz/make_seeds.sh tests/fuzz/make_png.py tests/make_fixture.py $(wildcard configs/*.json)
	@$(MAKE) --no-print-directory FUZZ= CC=cc mnist-train
	bash tests/fuzz/make_seeds.sh build/fuzz/corpus $(abspath mnist-train)
	@touch $@

fuzz-smoke:
	@if $(FUZZ_CAN); then $(MAKE) --no-print-directory FUZZ=1 CC=$(FUZZ_CC) fuzz-bins && \
	    bash tests/fuzz/smoke.sh build/fuzz $(FUZZ_RUNS); fi

bench: $(BIN) $(BENCH_BIN)
	@bash bench/run.sh $(abspath $(BIN)) $(abspath $(BUILD)/bench)

golden:
	/usr/bin/python3 tests/golden/gen_golden.py tests/golden/mlp_ref.bin
	/usr/bin/python3 tests/golden/gen_cnn_golden.py tests/golden/cnn_ref.safetensors

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/mnist-train/configs
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mnist-train
	if [ -f mnist-train.1 ]; then install -m 644 mnist-train.1 $(DESTDIR)$(PREFIX)/share/man/man1/; fi
	install -m 644 configs/*.json $(DESTDIR)$(PREFIX)/share/mnist-train/configs/

clean:
	rm -rf build mnist-train

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d) $(TOOL_BIN:=.d)
