# unlearnbench: `make demo` runs the main job on the embedded default,
# `make test` runs every test. Both install what they need first.
GO ?= go
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# The ONNX Runtime library is not named here: the binary and the tests find
# third_party/onnxruntime/{cpu,cuda} by walking up, so --device cuda picks
# the CUDA build and a user's UNLEARNBENCH_ORT_LIB still wins.
BIN := $(ROOT)/bin/unlearnbench
# The version the binary prints: the commit it was built from, as git
# describe says it (a tag, commits since, the hash, -dirty for local changes).
VERSION ?= $(shell git -C $(ROOT) describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X unlearnbench/cli.buildVersion=$(VERSION)
# make install: the binary and the ONNX Runtime library it loads go to
# $(PREFIX)/lib/unlearnbench (the binary finds the library by walking up from
# its own location), with a link in $(PREFIX)/bin, which is on PATH.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: setup build install demo test test-slurm bench fuzz race

setup:
	@./scripts/setup.sh

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) .

install: setup build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/unlearnbench/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/lib/unlearnbench/bin/unlearnbench
	for lib in $(ROOT)/third_party/onnxruntime/*/libonnxruntime*.so*; do \
	  [ -f "$$lib" ] || continue; \
	  rel=$${lib#$(ROOT)/}; install -d $(DESTDIR)$(PREFIX)/lib/unlearnbench/$$(dirname $$rel); \
	  install -m 644 "$$lib" $(DESTDIR)$(PREFIX)/lib/unlearnbench/$$rel; \
	done
	ln -sf ../lib/unlearnbench/bin/unlearnbench $(DESTDIR)$(PREFIX)/bin/unlearnbench
	@echo "installed $(DESTDIR)$(PREFIX)/bin/unlearnbench ($$($(DESTDIR)$(PREFIX)/bin/unlearnbench version))"

# The embedded default config (run/default.yaml): Fashion-MNIST, the zoo's
# MLP, N = 32 per population; populations are cached under cache/, the run's
# files written to runs/demo/, so a second `make demo` takes seconds.
demo: setup build
	$(BIN) run

test: setup
	$(GO) vet ./...
	$(GO) test -timeout 25m ./...

# docs/slurm-array.sh on a real one-node Slurm brought up on this machine
# (root; installs Debian's slurm-wlm and munge when missing; a few
# minutes, so outside `make test`). See docs/sharding.md, "On Slurm".
test-slurm: setup build
	./scripts/test-slurm.sh

# Benchmarks are outside `make test`: results go into BENCHMARKS.md by hand,
# with the machine they ran on. Then, when Debian's python3-torch is
# installed, the side-by-side comparison with PyTorch (bench/torch_compare.py).
PYTHON ?= /usr/bin/python3
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...
	@if $(PYTHON) -c 'import torch' 2>/dev/null; then \
	  $(PYTHON) bench/torch_compare.py; \
	else echo "bench: $(PYTHON) cannot import torch (apt-get install python3-torch): PyTorch comparison skipped"; fi

# Each fuzzer for a short while; the inputs it found interesting are copied
# from the Go build cache into the package's testdata/fuzz, which is committed,
# so `go test` replays them from then on.
FUZZTIME ?= 30s
fuzz: setup
	@cache=$$($(GO) env GOCACHE)/fuzz; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzzing $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg || exit 1; \
	    if [ -d "$$cache/$$pkg/$$f" ]; then mkdir -p "$$dir/testdata/fuzz/$$f" && cp -n "$$cache/$$pkg/$$f"/* "$$dir/testdata/fuzz/$$f/"; fi; \
	  done; \
	done

race: setup
	$(GO) test -race -timeout 25m ./...
