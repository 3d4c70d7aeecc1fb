# modelfs -- build, test, demo.  `make` builds ./modelfs; `make check` runs every
# test (C units with cmocka, pytest with real mounts) against a sanitized build.

CC       := gcc
PKGS     := fuse3 zlib libdeflate libcjson libzip liblzma liblz4 libarchive
# Opened at run time, not linked (fs/format/sevenzip.c says why): its soname.
DLOPENED := libarchive
ARCHIVE_SONAME := $(shell objdump -p $$(pkg-config --variable=libdir libarchive 2>/dev/null)/libarchive.so \
                    2>/dev/null | awk '/SONAME/ {print $$2}')
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
              $(if $(ARCHIVE_SONAME),-DMFS_LIBARCHIVE_SONAME='"$(ARCHIVE_SONAME)"')
PKG_LIBS   := $(shell pkg-config --libs $(filter-out $(DLOPENED),$(PKGS)) 2>/dev/null) -lbz2 -lm -lpthread
CSTD     := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(PKG_CFLAGS)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS     := $(sort $(wildcard fs/*/*.c))
LIB_SRCS := $(filter-out fs/cli/main.c,$(SRCS))
HDRS     := $(wildcard include/modelfs/*.h)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))

REL_OBJS  := $(LIB_SRCS:fs/%.c=build/rel/%.o) build/rel/data_lists.o
ASAN_OBJS := $(LIB_SRCS:fs/%.c=build/asan/%.o) build/asan/data_lists.o
DATA_LISTS := $(sort $(wildcard data/*.txt))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/unit/%)

PYTHON   := /usr/bin/python3
PREFIX   ?= /usr/local

.PHONY: all deps check unit pytest asan demo clean fuzz bench install stress
all: modelfs

modelfs: build/rel/libmodelfs.a build/rel/cli/main.o
	$(CC) $(ALL_CFLAGS) -o $@ build/rel/cli/main.o build/rel/libmodelfs.a $(PKG_LIBS)

build/rel/%.o: fs/%.c $(HDRS) | build/rel
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# data/NAME.txt becomes the C string `data_NAME` (the lists ship inside the binary).
build/gen/data_lists.c: $(DATA_LISTS) scripts/embed.sh | build/gen
	scripts/embed.sh $(DATA_LISTS) > $@

build/rel/data_lists.o: build/gen/data_lists.c | build/rel
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/asan/data_lists.o: build/gen/data_lists.c | build/asan
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

build/rel/libmodelfs.a: $(REL_OBJS)
	rm -f $@ && ar rcs $@ $^

build/asan/%.o: fs/%.c $(HDRS) | build/asan
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

build/asan/libmodelfs.a: $(ASAN_OBJS)
	rm -f $@ && ar rcs $@ $^

build/asan/modelfs: build/asan/libmodelfs.a build/asan/cli/main.o
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -o $@ build/asan/cli/main.o build/asan/libmodelfs.a $(PKG_LIBS)

asan: build/asan/modelfs

build/asan/unit/%: tests/unit/%.c build/asan/libmodelfs.a $(HDRS) | build/asan/unit
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -o $@ $< build/asan/libmodelfs.a $(PKG_LIBS) -lcmocka

build/rel build/asan build/asan/unit build/gen:
	mkdir -p $@

# Installs the Debian packages this project needs when any is missing.
deps:
	@scripts/deps.sh

# C unit tests under the sanitizers.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t; done

# Integration tests: real fixtures, real mounts, the sanitized binary.
pytest: build/asan/modelfs modelfs
	MODELFS_BIN=$(CURDIR)/build/asan/modelfs $(PYTHON) -m pytest -q -p no:cacheprovider --basetemp=$(CURDIR)/build/pytest tests

check: deps
	@$(MAKE) --no-print-directory all asan
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory pytest

# Readers, walkers and a writer changing SOURCE in every way (big models too),
# beside the hostile suite, for minutes, over a small cache (issue 13): prints
# the figures the README quotes.  STRESS_SECONDS=N; ASAN=1 runs the ASan/UBSan
# daemon (a sanitizer report fails it).
stress: all $(if $(ASAN),asan)
	$(PYTHON) scripts/stress.py $(if $(ASAN),--asan) $(STRESS_SECONDS)

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

clean:
	rm -rf build modelfs tests/__pycache__

# ---- fuzzing (libFuzzer, clang) ------------------------------------------------
# `make fuzz FUZZ_SECONDS=N` runs every target N seconds; `make fuzz-smoke` runs each
# FUZZ_SMOKE_SECONDS and fails on any crash, leak, timeout or sanitizer report.
# Seeds come from the fixtures (fuzz/make_corpus.py) and tests/data/crashers/.
# Warnings are not errors here: clang warns differently from gcc, and the gcc
# build already enforces -Werror on every file.
FUZZ_CC       := clang
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_TARGETS  := pickle joblib skops render
FUZZ_CFLAGS   := $(CSTD) -Wall -g -O1 -Iinclude $(PKG_CFLAGS) -fno-omit-frame-pointer \
                 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_OBJS     := $(LIB_SRCS:fs/%.c=build/fuzz/obj/%.o) build/fuzz/obj/data_lists.o
FUZZ_BINS     := $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
FUZZ_RUN_OPTS := -rss_limit_mb=2048 -timeout=20 -max_len=1048576 -print_final_stats=1

build/fuzz/obj:
	mkdir -p $@

build/fuzz/obj/%.o: fs/%.c $(HDRS) | build/fuzz/obj
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/obj/data_lists.o: build/gen/data_lists.c | build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/libmodelfs.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h build/fuzz/libmodelfs.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libmodelfs.a $(PKG_LIBS)

build/fuzz/corpus/.stamp: fuzz/make_corpus.py $(wildcard tests/data/crashers/*/*)
	rm -rf build/fuzz/corpus && $(PYTHON) fuzz/make_corpus.py build/fuzz/corpus && touch $@

fuzz_dict = $(if $(filter skops,$(1)),fuzz/skops.dict,fuzz/pickle.dict)

# One target: $(1) name, $(2) seconds.  New inputs go to build/fuzz/work/NAME,
# crashers to build/fuzz/crashes/NAME/ (copy them to tests/data/crashers/NAME/).
define fuzz_run
	mkdir -p build/fuzz/work/$(1) build/fuzz/crashes/$(1) build/fuzz/corpus/$(1)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/fuzz/fuzz_$(1) $(FUZZ_RUN_OPTS) -max_total_time=$(2) -dict=$(call fuzz_dict,$(1)) \
	  -artifact_prefix=build/fuzz/crashes/$(1)/ build/fuzz/work/$(1) build/fuzz/corpus/$(1)

endef

fuzz: $(FUZZ_BINS) build/fuzz/corpus/.stamp
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t),$(FUZZ_SECONDS)))

.PHONY: fuzz-smoke fuzz-bins
fuzz-bins: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS) build/fuzz/corpus/.stamp
	$(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t),$(FUZZ_SMOKE_SECONDS)))

# ---- install ---------------------------------------------------------------------
# `make install [PREFIX=/usr/local] [DESTDIR=staging]`: the program, the fstab helper,
# the man page and the bash completion.  mount(8) looks for mount.modelfs in /sbin: for fstab entries of
# type "modelfs" use `make install SBINDIR=/sbin` (type "fuse.modelfs" needs only
# modelfs on root's PATH).
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

install: modelfs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(COMPLETIONDIR)
	install -m 755 modelfs $(DESTDIR)$(BINDIR)/modelfs
	sed 's|@BINDIR@|$(BINDIR)|g' scripts/mount.modelfs > $(DESTDIR)$(SBINDIR)/mount.modelfs
	chmod 755 $(DESTDIR)$(SBINDIR)/mount.modelfs
	install -m 644 modelfs.1 $(DESTDIR)$(MANDIR)/man1/modelfs.1
	install -m 644 scripts/modelfs.bash $(DESTDIR)$(COMPLETIONDIR)/modelfs

# ---- benchmarks --------------------------------------------------------------------
# `make bench [BENCH_ARGS="--rounds 3 --only see,vm"]`: modelfs against joblib.load,
# pickle.load, pickletools and cat, side by side on this machine; prints one table
# (scripts/bench; method and figures in the README).  Models are written once into
# build/bench/models.  Never part of `make check`: timings are not tests.
BENCH_ARGS ?=
bench: all
	$(PYTHON) scripts/bench $(BENCH_ARGS)
