# shmarray — build, test and demo. `make test` is what CI runs (.ci/run);
# `make demo` is the one-command tour. Both work on a fresh machine with Go,
# gcc and Python: Go modules come from the module proxy on first use.

GO        ?= go
FUZZTIME  ?= 60s
# The short fuzz pass inside `make test`.
TESTFUZZ  ?= 10s
BUILD     := build

.PHONY: all build lint test test-go fuzz fuzz-short bench demo clean

all: build

## build: compile every Go package and the demo binary
build:
	$(GO) build ./...
	$(GO) build -o $(BUILD)/demo ./demo

## lint: gofmt and go vet must be clean
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: everything — lint, Go tests with the race detector, a short fuzz pass
test: lint test-go fuzz-short

test-go:
	$(GO) test -race -count=1 ./...

fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(TESTFUZZ) -fuzzminimizetime 1s ./format/

## fuzz: each fuzz target for FUZZTIME (default 60s)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./format/

## bench: Go benchmarks (attach latency by size, create vs memcpy)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./arena/

## demo: one segment, several workers reading it at once, memory compared
demo: build
	./$(BUILD)/demo

clean:
	rm -rf $(BUILD)
	$(GO) clean -testcache
