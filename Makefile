# modelfs -- build, test, demo.  `make` builds ./modelfs; `make check` runs every
# test (C units with cmocka, pytest with real mounts) against a sanitized build.

CC       := gcc
PKGS     := fuse3 zlib libcjson libzip liblzma liblz4
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lm -lpthread
CSTD     := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
ALL_CFLAGS := $(CSTD) $(WARN) $(CFLAGS) -Iinclude $(PKG_CFLAGS)
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS     := $(sort $(wildcard fs/*.c))
LIB_SRCS := $(filter-out fs/main.c,$(SRCS))
HDRS     := $(wildcard include/modelfs/*.h)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))

REL_OBJS  := $(LIB_SRCS:fs/%.c=build/rel/%.o) build/rel/data_lists.o
ASAN_OBJS := $(LIB_SRCS:fs/%.c=build/asan/%.o) build/asan/data_lists.o
DATA_LISTS := $(sort $(wildcard data/*.txt))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/unit/%)

PYTHON   := /usr/bin/python3
PREFIX   ?= /usr/local

.PHONY: all deps check unit pytest asan demo clean fuzz bench install
all: modelfs

modelfs: build/rel/libmodelfs.a build/rel/main.o
	$(CC) $(ALL_CFLAGS) -o $@ build/rel/main.o build/rel/libmodelfs.a $(PKG_LIBS)

build/rel/%.o: fs/%.c $(HDRS) | build/rel
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
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -c -o $@ $<

build/asan/libmodelfs.a: $(ASAN_OBJS)
	rm -f $@ && ar rcs $@ $^

build/asan/modelfs: build/asan/libmodelfs.a build/asan/main.o
	$(CC) $(ALL_CFLAGS) -O1 $(SAN) -o $@ build/asan/main.o build/asan/libmodelfs.a $(PKG_LIBS)

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
	MODELFS_BIN=$(CURDIR)/build/asan/modelfs $(PYTHON) -m pytest -q -p no:cacheprovider tests

check: deps
	@$(MAKE) --no-print-directory all asan
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory pytest

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

clean:
	rm -rf build modelfs tests/__pycache__
