# shmarray — build, test and demo. `make test` is what CI runs (.ci/run);
# `make demo` is the one-command tour. Both work on a fresh Linux machine
# with Go, gcc, make and Python 3: Go modules come from the module proxy and
# the Python test environment (.venv: numpy, pyarrow, pytest, pytest-timeout,
# dask[distributed]) from PyPI, on first use.

GO        ?= go
PYTHON    ?= python3
FUZZTIME  ?= 60s
# A count, not a duration: a duration ends in a deadline that a busy machine
# can turn into a spurious "context deadline exceeded" failure.
TESTFUZZ  ?= 50000x
BUILD     := build
VENV      := .venv
PY        := $(VENV)/bin/python
LIB       := $(BUILD)/libshmarray.so
CC        ?= gcc
CFLAGS_C  := -std=c99 -Wall -Wextra -Werror -O2 -gdwarf-4 -D_POSIX_C_SOURCE=200809L -Ibindings/c
LDFLAGS_C := -L$(BUILD) -lshmarray -Wl,-rpath,$(abspath $(BUILD))
GO_SRC    := $(shell find format arena capi -name '*.go' -not -name '*_test.go') $(wildcard capi/*.c capi/*.h) bindings/c/shmarray.h go.mod go.sum
C_BINS    := $(BUILD)/worker $(BUILD)/writer $(BUILD)/test_reader $(BUILD)/test_capi $(BUILD)/test_gc $(BUILD)/test_index $(BUILD)/demo-worker-c

.PHONY: all build lib venv lint test test-go test-c test-python conformance golden fuzz fuzz-short bench bench-index bench-dask demo clean

all: build

## build: every Go package, libshmarray.so, the C examples and the demo binary
build: lib $(C_BINS)
	$(GO) build ./...
	$(GO) build -o $(BUILD)/demo ./demo/go
	$(GO) build -o $(BUILD)/shmarray ./cmd/shmarray

## lib: build/libshmarray.so (and a copy bundled into the Python package)
lib: $(LIB)

$(LIB): $(GO_SRC)
	@mkdir -p $(BUILD)
	@# DWARF 4 throughout: the valgrind run of the C tests cannot read DWARF 5.
	GOEXPERIMENT=nodwarf5 CGO_CFLAGS="-O2 -g -gdwarf-4" $(GO) build -buildmode=c-shared -o $@ ./capi
	@rm -f $(BUILD)/libshmarray.h  # cgo's header is not shipped: bindings/c/shmarray.h is the ABI
	@# Replace, never overwrite in place: running processes may have the old copy mapped.
	cp $@ bindings/python/shmarray/.libshmarray.so.tmp && mv -f bindings/python/shmarray/.libshmarray.so.tmp bindings/python/shmarray/libshmarray.so

$(BUILD)/%: bindings/c/examples/%.c bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C)

$(BUILD)/%: bindings/c/tests/%.c bindings/c/tests/check.h bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C) -lpthread

## venv: the Python environment for tests and the demo
venv: $(VENV)/.ready

$(VENV)/.ready: bindings/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check numpy pyarrow pytest pytest-timeout 'dask[distributed]'
	@touch $@

## lint: gofmt and go vet must be clean
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: everything — lint, Go (-race), C (+valgrind), Python, conformance, a short fuzz pass
test: lint test-go test-c test-python conformance fuzz-short

test-go:
	$(GO) test -race -count=1 ./...

test-c: $(C_BINS)
	bindings/c/tests/check_symbols.sh $(LIB)
	./$(BUILD)/test_capi
	./$(BUILD)/test_reader
	./$(BUILD)/test_gc
	./$(BUILD)/test_index
	bindings/c/tests/run_examples.sh $(BUILD)

test-python: venv lib
	@# A hung worker must fail the run, not stall CI.
	PYTHONPATH=bindings/python timeout 1200 $(PY) -m pytest -q bindings/python/tests

## conformance: readers × vectors and writers × readers matrices; fails on any red cell
conformance: lib venv
	GO=$(GO) CC=$(CC) $(PY) conformance/run.py

## golden: regenerate conformance/vectors from the case definitions (commit the result)
golden:
	$(GO) run ./conformance/cmd/golden

FUZZ_TARGETS := FuzzReadHeader FuzzDecodeDirectory FuzzDecode FuzzDecodeResealed FuzzValidSegmentName FuzzIndexProbe

fuzz-short:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(TESTFUZZ) -fuzzminimizetime 1s ./format/ || exit 1; done

## fuzz: each fuzz target for FUZZTIME (default 60s)
fuzz:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./format/ || exit 1; done

## bench: every workload side by side (docs/benchmarks.md and .png); BENCH_SCALE=0.1 for a quick run
VENV_BENCH := .venv-bench

$(VENV_BENCH)/.ready:
	$(PYTHON) -m venv $(VENV_BENCH)
	@# matplotlib draws docs/benchmarks.png; it is a dependency of the benchmarks only.
	$(VENV_BENCH)/bin/pip install --quiet --disable-pip-version-check numpy pyarrow matplotlib
	@touch $@

$(BUILD)/attach_bench: bench/attach_bench.c bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C)

bench: build $(BUILD)/attach_bench $(VENV_BENCH)/.ready
	PYTHONPATH=bindings/python $(VENV_BENCH)/bin/python bench/run.py $(if $(BENCH_SCALE),--scale $(BENCH_SCALE))

## bench-index: the shared lookup index against dict (fork, spawn) and sqlite
bench-index: lib venv
	PYTHONPATH=bindings/python $(PY) bench/index_bench.py $(if $(BENCH_SCALE),--scale $(BENCH_SCALE))

## bench-dask: 1 GiB for 4 Dask workers, shmarray.dask against scatter(broadcast=True) and task arguments (docs/benchmarks-dask.md); BENCH_SCALE, BENCH_REPS
bench-dask: lib venv
	PYTHONPATH=bindings/python timeout 3000 $(PY) bench/dask_share.py $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) $(if $(BENCH_REPS),--reps $(BENCH_REPS))

## demo: one segment, Go, Python and C workers reading it at once, memory compared
demo: build venv
	PYTHONPATH=bindings/python $(PY) demo/demo.py

clean:
	rm -rf $(BUILD) bindings/python/shmarray/libshmarray.so
	$(GO) clean -testcache

$(BUILD)/demo-worker-c: demo/c/worker.c bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C)
