# shmarray — build, test and demo. `make test` is what CI runs (.ci/run);
# `make demo` is the one-command tour. Both work on a fresh Linux machine
# with Go, gcc, make and Python 3: Go modules come from the module proxy and
# the Python test environment (.venv: numpy, pyarrow, pytest, pytest-timeout,
# setuptools, dask[distributed], and the Arrow consumers the interop tests
# hand segments to: pandas, polars, duckdb, nanoarrow) from PyPI, on first use.

GO        ?= go
# The one source of the version: the Go module (package shmarray),
# libshmarray.so (shmarray_version) and the Python package read it.
VERSION   := $(shell cat VERSION)
PYTHON    ?= python3
FUZZTIME  ?= 60s
# A count, not a duration: a duration ends in a deadline that a busy machine
# can turn into a spurious "context deadline exceeded" failure.
TESTFUZZ  ?= 50000x
# The C reader's differential target runs under AddressSanitizer and
# UndefinedBehaviorSanitizer, about 50x slower than plain Go.
TESTCFUZZ ?= 10000x
SANITIZE  := CGO_CFLAGS="-O1 -g -fsanitize=undefined -fno-sanitize-recover=all" CGO_LDFLAGS="-fsanitize=undefined"
BUILD     := build
VENV      := .venv
PY        := $(VENV)/bin/python
LIB       := $(BUILD)/libshmarray.so
CC        ?= gcc
CFLAGS_C  := -std=c99 -Wall -Wextra -Werror -O2 -gdwarf-4 -D_POSIX_C_SOURCE=200809L -Ibindings/c -DSHMARRAY_EXPECTED_VERSION=\"$(VERSION)\"
LDFLAGS_C := -L$(BUILD) -lshmarray -Wl,-rpath,$(abspath $(BUILD))
GO_SRC    := $(shell find format arena capi -name '*.go' -not -name '*_test.go') $(wildcard capi/*.c capi/*.h) bindings/c/shmarray.h go.mod go.sum VERSION capi/libshmarray.map
# libshmarray.so exports its ABI and nothing else (no Go runtime, cgo or
# arrow-go symbol): capi/libshmarray.map.
LIB_LDFLAGS := -extldflags=-Wl,--version-script=$(abspath capi/libshmarray.map)
# shmarray._native: the C reader core (capi/sa_*.c) for Python, built in place.
NATIVE    := bindings/python/shmarray/_native.abi3.so
NATIVE_SRC := $(wildcard bindings/python/native/*.c bindings/python/native/*.h capi/sa_*.c capi/*.h) bindings/c/shmarray.h bindings/python/setup.py VERSION
C_BINS    := $(BUILD)/worker $(BUILD)/writer $(BUILD)/fill $(BUILD)/test_reader $(BUILD)/test_capi $(BUILD)/test_gc $(BUILD)/test_index $(BUILD)/test_security $(BUILD)/test_versions $(BUILD)/test_outputs $(BUILD)/demo-worker-c

.PHONY: all build lib native venv lint test test-go test-c test-c-sanitized test-python conformance golden fuzz fuzz-short bench bench-index bench-outputs demo clean sdist wheel wheels test-wheel test-wheels test-wheel-aarch64 test-sdist bench-dask

all: build

## build: every Go package, libshmarray.so, the Python extension, the C examples and the demo binary
build: lib native $(C_BINS)
	$(GO) build ./...
	$(GO) build -o $(BUILD)/demo ./demo/go
	$(GO) build -o $(BUILD)/shmarray ./cmd/shmarray

## lib: build/libshmarray.so (and a copy bundled into the Python package)
lib: $(LIB)

$(LIB): $(GO_SRC)
	@mkdir -p $(BUILD)
	@# DWARF 4 throughout: the valgrind run of the C tests cannot read DWARF 5.
	GOEXPERIMENT=nodwarf5 CGO_CFLAGS="-O2 -g -gdwarf-4 -DSHMARRAY_VERSION=\"$(VERSION)\"" $(GO) build -buildmode=c-shared -ldflags="$(LIB_LDFLAGS)" -o $@ ./capi
	@rm -f $(BUILD)/libshmarray.h  # cgo's header is not shipped: bindings/c/shmarray.h is the ABI
	@# Replace, never overwrite in place: running processes may have the old copy mapped.
	cp $@ bindings/python/shmarray/.libshmarray.so.tmp && mv -f bindings/python/shmarray/.libshmarray.so.tmp bindings/python/shmarray/libshmarray.so

## native: shmarray._native, the CPython extension over the C reader core (no Go)
native: $(NATIVE)

$(NATIVE): $(NATIVE_SRC) $(VENV)/.ready
	cd bindings/python && CFLAGS=-Werror ../../$(PY) setup.py -q build_ext --inplace
	@rm -rf bindings/python/build bindings/python/shmarray.egg-info

$(BUILD)/%: bindings/c/examples/%.c bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C)

$(BUILD)/%: bindings/c/tests/%.c bindings/c/tests/check.h bindings/c/tests/common.h bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C) -lpthread

## venv: the Python environment for tests and the demo
venv: $(VENV)/.ready

# packaging/test_wheel.py installs the same into each wheel-test venv.
PY_TEST_DEPS := numpy pyarrow pytest pytest-timeout "setuptools>=77" 'dask[distributed]' pandas polars duckdb nanoarrow

$(VENV)/.ready: bindings/python/pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TEST_DEPS)
	@touch $@

## lint: gofmt and go vet must be clean
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: everything — lint, Go (-race), C (+valgrind, +sanitizers), Python, conformance, short fuzz passes,
## the wheel on one other CPython, the sdist with and without Go
test: lint test-go test-c test-c-sanitized test-python conformance fuzz-short test-wheel test-sdist

test-go:
	$(GO) test -race -count=1 ./...

test-c: $(C_BINS)
	bindings/c/tests/check_symbols.sh $(LIB)
	./$(BUILD)/test_capi
	./$(BUILD)/test_reader
	./$(BUILD)/test_gc
	./$(BUILD)/test_index
	./$(BUILD)/test_security
	./$(BUILD)/test_versions
	./$(BUILD)/test_outputs
	bindings/c/tests/run_examples.sh $(BUILD)

# The C reader core beside the Go reference reader on every vector and corpus
# file, under AddressSanitizer and UndefinedBehaviorSanitizer.
test-c-sanitized:
	$(SANITIZE) $(GO) test -asan -count=1 ./capi/creader

test-python: venv lib native $(BUILD)/fill
	@# A hung worker must fail the run, not stall CI.
	PYTHONPATH=bindings/python timeout 1200 $(PY) -m pytest -q -rs --timeout 600 --timeout-method thread bindings/python/tests

## conformance: readers × vectors and writers × readers matrices; fails on any red cell
conformance: lib native venv
	GO=$(GO) CC=$(CC) $(PY) conformance/run.py

## golden: regenerate conformance/vectors from the case definitions (commit the result)
golden:
	$(GO) run ./conformance/cmd/golden

FUZZ_TARGETS := FuzzReadHeader FuzzDecodeDirectory FuzzDecode FuzzDecodeResealed FuzzValidSegmentName FuzzIndexProbe

fuzz-short:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(TESTFUZZ) -fuzzminimizetime 1s ./format/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseOutputToken$$' -fuzztime $(TESTFUZZ) -fuzzminimizetime 1s ./arena/
	$(SANITIZE) $(GO) test -asan -run '^$$' -fuzz '^FuzzCReader$$' -fuzztime $(TESTCFUZZ) -fuzzminimizetime 1s ./capi/creader

## fuzz: each fuzz target for FUZZTIME (default 60s), the C reader's under the sanitizers
fuzz:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./format/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzParseOutputToken$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./arena/
	$(SANITIZE) $(GO) test -asan -run '^$$' -fuzz '^FuzzCReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./capi/creader

## sdist, wheel: dist/shmarray-VERSION.tar.gz and the cp39-abi3 manylinux wheel (WHEEL_ARCH=x86_64|aarch64)
VENV_BUILD := .venv-build
WHEEL_ARCH ?= $(shell uname -m)
WHEEL      := dist/shmarray-$(VERSION)-cp39-abi3-manylinux_2_17_$(WHEEL_ARCH).whl

$(VENV_BUILD)/.ready:
	$(PYTHON) -m venv $(VENV_BUILD)
	@# zig's C compiler targets an old glibc; auditwheel checks the result.
	$(VENV_BUILD)/bin/pip install --quiet --disable-pip-version-check ziglang auditwheel build "setuptools>=77" wheel
	@touch $@

sdist: $(VENV_BUILD)/.ready
	$(VENV_BUILD)/bin/python packaging/sdist.py

wheel: sdist
	$(VENV_BUILD)/bin/python packaging/wheel.py --arch $(WHEEL_ARCH)

## wheels: the x86_64 and aarch64 wheels
wheels: sdist
	$(VENV_BUILD)/bin/python packaging/wheel.py --arch x86_64
	$(VENV_BUILD)/bin/python packaging/wheel.py --arch aarch64

## test-wheel: the wheel, installed in a fresh venv of one CPython other than the builder's, no Go on PATH
test-wheel: wheel
	$(VENV_BUILD)/bin/python packaging/test_wheel.py $(WHEEL) $$($(VENV_BUILD)/bin/python packaging/pythons.py --other)

## test-wheels: the same for every CPython 3.9-3.13 found (pyenv or PATH)
test-wheels: wheel
	$(VENV_BUILD)/bin/python packaging/test_wheel.py $(WHEEL) $$($(VENV_BUILD)/bin/python packaging/pythons.py)

## test-wheel-aarch64: the aarch64 wheel's smoke test under qemu-user (installs qemu-user from Debian)
test-wheel-aarch64: $(VENV_BUILD)/.ready venv native
	$(MAKE) wheel WHEEL_ARCH=aarch64
	$(VENV_BUILD)/bin/python packaging/test_wheel_qemu.py dist/shmarray-$(VERSION)-cp39-abi3-manylinux_2_17_aarch64.whl

## test-sdist: pip install of the sdist, with Go (builds all) and without (fails at once, clearly)
test-sdist: sdist
	$(VENV_BUILD)/bin/python packaging/test_sdist.py dist/shmarray-$(VERSION).tar.gz

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

## bench-outputs: 1, 2, 4 workers fill a 1 GiB float64 result: shmarray output handles against pickled slices and shared_memory (docs/benchmarks-outputs.md); BENCH_SCALE, BENCH_REPS
bench-outputs: lib native venv
	PYTHONPATH=bindings/python:bench timeout 1800 $(PY) bench/outputs_bench.py --out docs/benchmarks-outputs.md $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) $(if $(BENCH_REPS),--reps $(BENCH_REPS))

## bench-dask: 1 GiB for 4 Dask workers, shmarray.dask against scatter(broadcast=True) and task arguments (docs/benchmarks-dask.md); BENCH_SCALE, BENCH_REPS
bench-dask: lib native venv
	PYTHONPATH=bindings/python timeout 3000 $(PY) bench/dask_share.py $(if $(BENCH_SCALE),--scale $(BENCH_SCALE)) $(if $(BENCH_REPS),--reps $(BENCH_REPS))

## demo: one segment, Go, Python and C workers reading it at once, memory compared
demo: build venv
	PYTHONPATH=bindings/python $(PY) demo/demo.py

clean:
	rm -rf $(BUILD) dist bindings/python/shmarray/libshmarray.so bindings/python/shmarray/_native*.so bindings/python/build
	$(GO) clean -testcache

$(BUILD)/demo-worker-c: demo/c/worker.c bindings/c/shmarray.h $(LIB)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDFLAGS_C)
