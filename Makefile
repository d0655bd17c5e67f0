# mnist-train — see README.md.  `make`, `make check`, `make check SANITIZE=1`, `make bench`.
CC       ?= cc
CFLAGS   ?= -O2 -g
WERROR   ?= -Werror
PREFIX   ?= /usr/local

PKGS     := zlib libpng libcjson libcurl
$(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,\
  $(error pkg-config cannot find '$(p)': install the Debian packages listed in README.md (bash .ci/run does it))))

MT_CFLAGS   = -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wvla $(WERROR) -pthread
MT_CPPFLAGS = -Iinclude -D_POSIX_C_SOURCE=200809L -MMD -MP \
              $(shell pkg-config --cflags $(PKGS))
MT_LDLIBS   = $(shell pkg-config --libs $(PKGS)) -lm -pthread

ifeq ($(SANITIZE),1)
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
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH  := $(wildcard tests/test_*.sh)
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all check bench golden install clean features
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

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(ISA_FLAGS_$(lastword $(subst _, ,$(basename $(notdir $<))))) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libapp.a $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libapp.a $(BUILD)/libmt.a $(shell pkg-config --cflags --libs cmocka) $(MT_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmt.a
	@mkdir -p $(@D)
	$(CC) $(MT_CPPFLAGS) $(CPPFLAGS) $(MT_CFLAGS) $(CFLAGS) $(MT_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(BUILD)/libmt.a $(MT_LDLIBS) $(LDLIBS)

# Every test binary and every tests/test_*.sh runs; any failure fails `make check`.
check: $(BIN) $(TEST_BIN)
	@pkg-config --exists cmocka || { echo "pkg-config cannot find 'cmocka' (Debian: libcmocka-dev)"; exit 1; }
	@fail=0; for t in $(TEST_BIN); do \
	    echo "== $$t"; MT_BIN=$(abspath $(BIN)) $$t || fail=1; done; \
	for t in $(TEST_SH); do \
	    echo "== $$t"; MT_BIN=$(abspath $(BIN)) bash $$t || fail=1; done; \
	if [ $$fail = 0 ]; then echo "make check: all tests passed"; else echo "make check: FAILED"; exit 1; fi

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

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_BIN:=.d) $(BENCH_BIN:=.d)
