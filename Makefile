# librecsys - build, test, demo, sanitizers, fuzzing, install and the ABI gate.
# Sources are discovered by folder: a new lib/**/*.c, tests/test_*.c, tests/fuzz/fuzz_*.c or
# examples/*.c needs no edit here. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := all
# Keep object files (they are intermediates of chained pattern rules).
.SECONDARY:

MAJOR := $(shell sed -n 's/^\#define RECSYS_VERSION_MAJOR \([0-9]*\)/\1/p' include/recsys.h)
MINOR := $(shell sed -n 's/^\#define RECSYS_VERSION_MINOR \([0-9]*\)/\1/p' include/recsys.h)
PATCH := $(shell sed -n 's/^\#define RECSYS_VERSION_PATCH \([0-9]*\)/\1/p' include/recsys.h)
VERSION := $(MAJOR).$(MINOR).$(PATCH)

CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=
OPT ?= -O2 -g
SAN ?=
PYTHON ?= /usr/bin/python3
RECSYS_DATA_DIR ?= $(abspath ../shared/data)
export RECSYS_DATA_DIR

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS_LIB := -std=c11 $(WARN) $(OPT) $(SAN) -fPIC -fvisibility=hidden -Iinclude -D_GNU_SOURCE
CFLAGS_TEST := -std=c11 -Wall -Wextra -Werror $(OPT) $(SAN) -Iinclude -Ilib -Itools -Itests/support -Iexamples -D_GNU_SOURCE
LIBS = -ljansson -lxxhash -lxgboost $(FAISS_LIBS) -lopenblas -lpthread -lm
TEST_LIBS := -lcmocka -lsqlite3

# Debian packages the project needs (make deps installs them when run as root).
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev libjansson-dev libxxhash-dev \
            libcmocka-dev libsqlite3-dev sqlite3 abigail-tools python3 libopenblas-dev libfaiss-dev \
            libxgboost-dev libcurl4-openssl-dev python3-numpy python3-pytest

LIB_SRC := $(sort $(shell find lib -name '*.c'))
# The one C++ file a dependency that only speaks C++ needs (the faiss bridge; DESIGN.md).
LIB_CXX_SRC := $(sort $(shell find lib -name '*.cc'))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(LIB_CXX_SRC:%.cc=$(BUILD)/obj/%.o)
# the static libfaiss.a comes before the OpenBLAS it calls
FAISS_LIBS := $(if $(LIB_CXX_SRC),-lfaiss -lgomp -lstdc++)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
# Example files without a main() are plug-ins a test links (examples/store_sqlite.c).
EXAMPLE_PLUGINS := $(wildcard examples/store_sqlite.c)
EXAMPLE_PLUGIN_OBJ := $(EXAMPLE_PLUGINS:%.c=$(BUILD)/obj/%.o)
EXAMPLE_SRC := $(filter-out $(EXAMPLE_PLUGINS),$(sort $(wildcard examples/*.c)))
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_OBJ := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

STATIC := $(BUILD)/librecsys.a
SONAME := librecsys.so.$(MAJOR)
SHARED := $(BUILD)/librecsys.so.$(VERSION)

.PHONY: all lib deps test check demo asan tsan fuzz install uninstall abi-check abi-store \
        docs clean help examples tests bench

all: deps-check lib examples tests $(if $(BENCH_SRC),$(BUILD)/recsys-bench)

lib: $(STATIC) $(SHARED) $(BUILD)/librecsys.so $(BUILD)/$(SONAME) $(BUILD)/recsys.pc

help:
	@echo "make            build the static and shared library, examples and tests"
	@echo "make deps       install the Debian packages (as root) or print the apt-get line"
	@echo "make demo       build and run the main job on the sample catalog"
	@echo "make test       build and run the whole test suite"
	@echo "make asan       the suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make tsan       the concurrency tests under ThreadSanitizer"
	@echo "make fuzz       run every libFuzzer target for FUZZ_SECONDS (default 20)"
	@echo "make abi-check  exported symbols, version script and ABI baseline"
	@echo "make bench      the benchmark harness (build/recsys-bench) on the sample catalog"
	@echo "make install PREFIX=/usr/local   (and uninstall)"

# ---------------------------------------------------------------- dependencies
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing) >$(BUILD_LOG) 2>&1 \
	    || { tail -20 $(BUILD_LOG); exit 1; }; \
	else \
	  echo "deps: missing Debian packages. Run as root:"; \
	  echo "  apt-get install -y$$missing"; exit 1; \
	fi
BUILD_LOG := /tmp/librecsys-deps.log

# The build itself checks quickly and points at `make deps` rather than failing obscurely.
deps-check:
	@ok=1; for h in jansson.h xxhash.h cmocka.h sqlite3.h xgboost/c_api.h; do [ -f /usr/include/$$h ] || ok=0; done; \
	for c in c++ pkg-config $(PYTHON); do command -v $$c >/dev/null 2>&1 || ok=0; done; \
	$(PYTHON) -c 'import numpy, pytest' >/dev/null 2>&1 || ok=0; \
	[ -f "$$($(CC) -print-file-name=libopenblas.so)" ] || ok=0; \
	[ -f "$$($(CC) -print-file-name=libfaiss.a)" ] || ok=0; \
	echo '#include <curl/curl.h>' | $(CC) -E -x c - >/dev/null 2>&1 || ok=0; \
	if [ $$ok = 0 ]; then echo "deps: something is missing; running 'make deps'"; \
	  $(MAKE) --no-print-directory deps || exit 1; fi
.PHONY: deps-check

# ---------------------------------------------------------------- library
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -Wall -Wextra -Werror $(OPT) $(SAN) -fPIC -fvisibility=hidden -Iinclude \
	  -MMD -MP -c $< -o $@

$(BUILD)/obj/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -MMD -MP -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -MMD -MP -c $< -o $@

$(BUILD)/obj/examples/%.o: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -MMD -MP -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ) lib/recsys.map
	@newest=$$(grep -o '^RECSYS_[0-9]*\.[0-9]*' lib/recsys.map | tail -1); \
	if [ "$$newest" != "RECSYS_$(MAJOR).$(MINOR)" ]; then \
	  echo "lib/recsys.map: newest node $$newest does not match version $(MAJOR).$(MINOR)"; exit 1; fi
	$(CC) -shared $(SAN) -o $@ $(LIB_OBJ) -Wl,--version-script=lib/recsys.map \
	  -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LIBS)

$(BUILD)/$(SONAME): $(SHARED)
	ln -sf $(notdir $(SHARED)) $@
$(BUILD)/librecsys.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/recsys.pc: recsys.pc.in include/recsys.h
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# ---------------------------------------------------------------- examples and tests
examples: $(EXAMPLE_BIN)
$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(TOOL_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $< $(TOOL_OBJ) $(STATIC) $(LIBS)

$(BUILD)/obj/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -Ibench -MMD -MP -c $< -o $@

# The benchmark harness: every bench/*.c linked into one program.
$(BUILD)/recsys-bench: $(BENCH_OBJ) $(TOOL_OBJ) $(STATIC)
	$(CC) $(SAN) -o $@ $(BENCH_OBJ) $(TOOL_OBJ) $(STATIC) $(LIBS)

bench: all
	$(BUILD)/recsys-bench all --catalog data/catalog.json

tests: $(TEST_BIN)
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(SUPPORT_OBJ) $(TOOL_OBJ) $(EXAMPLE_PLUGIN_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $< $(SUPPORT_OBJ) $(TOOL_OBJ) $(EXAMPLE_PLUGIN_OBJ) $(STATIC) $(TEST_LIBS) $(LIBS)

# libcurl only where the example HTTP LLM transport is linked: its program and its test (which
# compiles examples/llm_openai_http.c in); the library itself has no network code.
$(BUILD)/examples/llm_openai_http: LIBS += -lcurl
$(BUILD)/tests/test_llm_http: TEST_LIBS += -lcurl

# The whole suite: every tests/test_* binary, the header alone in C99/C11/C++11, the API doc
# check. Prints one closing line "N passed, N failed".
test: all
	@$(MAKE) --no-print-directory header-check
	@$(PYTHON) scripts/check_api_docs.py include/recsys.h
	@RECSYS_TEST_TIMEOUT=$${RECSYS_TEST_TIMEOUT:-900} scripts/run_tests.sh $(TEST_BIN)
	@$(if $(BENCH_SRC),$(BUILD)/recsys-bench report --selftest)
	@# the Python bindings against the library just built (tests/python; pytest, numpy)
	@RECSYS_LIBRARY=$(abspath $(SHARED)) RECSYS_BENCH=$(abspath $(BUILD)/recsys-bench) \
	  $(if $(SAN),LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0) \
	  PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

header-check:
	@mkdir -p $(BUILD)/abi
	@for std in c99 c11; do \
	  $(CC) -std=$$std -Wall -Wextra -pedantic -Werror -Iinclude -c tests/abi/header_c.c -o $(BUILD)/abi/h_$$std.o || exit 1; \
	done
	@c++ -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude -c tests/abi/header_cxx.cc -o $(BUILD)/abi/h_cxx.o
	@echo "header-check: recsys.h compiles alone as C99, C11 and C++11"
.PHONY: header-check

check: test

demo: all
	$(BUILD)/examples/demo data/catalog.json

# ---------------------------------------------------------------- sanitizers
asan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# the tests whose point is threads: the engine under concurrent use, the pool, parallel sources,
# the LLM guard from several threads, batch requests beside feedback, enrichment beside writers,
# requests and conversation turns blocked in the LLM beside writers
TSAN_TESTS := test_concurrency test_pool test_source_settings test_llm_guard test_batch test_enrich \
  test_llm_unlocked
tsan:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan OPT="-O1 -g" SAN="-fsanitize=thread" \
	  $(TSAN_TESTS:%=$(BUILD)/tsan/tests/%)
	@for t in $(TSAN_TESTS); do \
	  TSAN_OPTIONS="halt_on_error=1" $(BUILD)/tsan/tests/$$t || exit 1; done

# ---------------------------------------------------------------- fuzzing
# The library is compiled once with coverage instrumentation (fuzzer-no-link) and the
# sanitizers, then each target links its own file against those objects.
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS := -std=c11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
               -Iinclude -Ilib -D_GNU_SOURCE -fvisibility=hidden
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(LIB_CXX_SRC:%.cc=$(BUILD)/fuzz/obj/%.o)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize=vptr -fPIC -Iinclude \
	  -MMD -MP -c $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LIBS)

fuzz: deps-check $(FUZZ_BIN)
	@for bin in $(FUZZ_BIN); do \
	  name=$$(basename $$bin); \
	  mkdir -p $(BUILD)/fuzz/corpus-$$name; \
	  seeds=""; [ -d tests/fuzz/corpus/$$name ] && seeds=tests/fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$bin -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	    -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus-$$name $$seeds >$(BUILD)/fuzz/$$name.log 2>&1 \
	    || { tail -40 $(BUILD)/fuzz/$$name.log; exit 1; }; \
	  grep -E '^(#[0-9]+|Done)' $(BUILD)/fuzz/$$name.log | tail -1; \
	done

# ---------------------------------------------------------------- ABI
abi-check:
	@$(MAKE) --no-print-directory BUILD=build/abi-build OPT="-Og -g" lib
	@PYTHON=$(PYTHON) scripts/abi_check.sh build/abi-build/librecsys.so.$(VERSION)

abi-store:
	@$(MAKE) --no-print-directory BUILD=build/abi-build OPT="-Og -g" lib
	abidw --no-corpus-path --no-comp-dir-path --type-id-style hash --headers-dir include \
	  --out-file abi/librecsys.abi build/abi-build/librecsys.so.$(VERSION)
	$(PYTHON) scripts/gen_symbols.py --constants include/recsys.h > abi/librecsys.constants

docs:
	$(PYTHON) scripts/gen_symbols.py include/recsys.h > docs/symbols.md.tmp
	mv docs/symbols.md.tmp docs/symbols.md

# ---------------------------------------------------------------- install
install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/recsys.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf $(notdir $(SHARED)) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/librecsys.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' recsys.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/recsys.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/recsys.h $(DESTDIR)$(PREFIX)/lib/librecsys.a \
	  $(DESTDIR)$(PREFIX)/lib/librecsys.so $(DESTDIR)$(PREFIX)/lib/$(SONAME) \
	  $(DESTDIR)$(PREFIX)/lib/librecsys.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/pkgconfig/recsys.pc

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
