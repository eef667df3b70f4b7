# nines build and test plumbing. `make test` is THE test command (CI runs it through
# .ci/run). Everything here must work without stdin and fail loudly.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO          ?= go
PG_BIN      ?= /usr/lib/postgresql/15/bin
BIN_DIR     := $(CURDIR)/.bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN_DIR)/staticcheck
TEST_TIMEOUT ?= 20m
FUZZTIME    ?= 10s
# Packages tested with the race detector (see the note at `race`).
RACE_PKGS   ?= ./...

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: test build lint fmt-check vet staticcheck libc-check prereqs race unit fuzz fuzz-smoke clean

## test: prerequisites, lint, the modernc libc pin check, a bounded fuzz run of the admin
## API's request decoding, then every test with the race detector (its summary comes last).
test: prereqs lint libc-check fuzz-smoke race

## build: the nines binary at bin/nines, with version and commit stamped in.
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/nines ./cmd/nines

## lint: gofmt (must list nothing), go vet, staticcheck.
lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):" >&2; echo "$$out" >&2; exit 1; fi; \
	echo "gofmt: clean"

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(BIN_DIR) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	@installed="$$($(STATICCHECK) -version)"; \
	case "$$installed" in *"$(STATICCHECK_VERSION:v%=%)"*) ;; \
	  *) echo "replacing $$installed with staticcheck $(STATICCHECK_VERSION)"; \
	     GOBIN=$(BIN_DIR) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION);; esac
	$(STATICCHECK) ./...

## libc-check: modernc.org/libc must be exactly the version modernc.org/sqlite's own
## go.mod requires (libraries.md §0.2); anything else corrupts memory at run time.
libc-check:
	@sqlite="$$($(GO) list -m -f '{{.Version}}' modernc.org/sqlite)"; \
	libc="$$($(GO) list -m -f '{{.Version}}' modernc.org/libc)"; \
	gomod="$$($(GO) mod download -json modernc.org/sqlite@$$sqlite | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$$/\1/p')"; \
	want="$$(awk '$$1 == "modernc.org/libc" { print $$2; exit }' "$$gomod")"; \
	if [ -z "$$want" ]; then echo "libc-check: cannot read modernc.org/libc from $$gomod" >&2; exit 1; fi; \
	if [ "$$libc" != "$$want" ]; then \
	  echo "libc-check: go.mod has modernc.org/libc $$libc, but modernc.org/sqlite $$sqlite requires exactly $$want." >&2; \
	  echo "  fix: go get modernc.org/libc@$$want" >&2; exit 1; fi; \
	echo "libc-check: modernc.org/sqlite $$sqlite with modernc.org/libc $$libc: ok"

## prereqs: PostgreSQL 15 server binaries (the store tests start real clusters) and a
## C compiler with cgo enabled (the race detector needs them on linux).
prereqs:
	@cc="$$($(GO) env CC)"; \
	if ! command -v "$$cc" >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "C compiler $$cc is missing; installing gcc with apt-get"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev </dev/null; \
	fi; \
	if ! command -v "$$cc" >/dev/null; then \
	  echo "FATAL: C compiler $$cc not found; go test -race needs it. On Debian: sudo apt-get install -y gcc" >&2; exit 1; \
	fi; \
	if [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then \
	  echo "FATAL: CGO_ENABLED is not 1; go test -race needs cgo. Unset CGO_ENABLED or set it to 1." >&2; exit 1; \
	fi
	@if [ ! -x "$(PG_BIN)/postgres" ] || [ ! -x "$(PG_BIN)/initdb" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "PostgreSQL 15 is missing from $(PG_BIN); installing it with apt-get"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql </dev/null; \
	  fi; \
	fi; \
	if [ ! -x "$(PG_BIN)/postgres" ] || [ ! -x "$(PG_BIN)/initdb" ]; then \
	  echo "FATAL: PostgreSQL 15 server binaries not found in $(PG_BIN)." >&2; \
	  echo "  The store tests need them. On Debian 12: sudo apt-get update && sudo apt-get install -y postgresql" >&2; \
	  echo "  (or set PG_BIN=/path/to/postgresql/bin)." >&2; \
	  exit 1; \
	fi; \
	echo "prereqs: $$($(PG_BIN)/postgres --version)"

## race: the whole suite under the race detector, in two steps. The fault tests (real
## PostgreSQL, NATS and nines processes under a sign-in load, killed on purpose) run last
## and alone: beside other packages' tests, two shared cores starve them (password
## hashing past its 2 s queue answers 503, which they count as failed sign-ins).
## Everything else runs first, packages in parallel.
FAULT_TESTS ?= ^(TestFailure(PrimaryStopped|BrokerStopped|ReplicaKilled|WorkerRestarted|LoginRestartedWithSpool|NATSNodeKilled|NATSAllKilled|WorkerKilled)|TestEdgeClusterKill|TestLabChaos)$$
FAULT_PKGS  ?= ./internal/app/ ./cmd/nines/
race:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -skip '$(FAULT_TESTS)' $(RACE_PKGS)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -p 1 -run '$(FAULT_TESTS)' $(FAULT_PKGS)

## unit: the whole suite without the race detector.
unit:
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

## fuzz-smoke: the admin API's request-decoding fuzz target for FUZZ_SMOKE_TIME (bounded).
FUZZ_SMOKE_TIME ?= 15s
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_SMOKE_TIME) ./internal/admin/

## fuzz: every fuzz target for FUZZTIME each (bounded), one at a time.
fuzz:
	@targets=0; \
	for file in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  dir="$$(dirname "$$file")"; \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
	    echo "fuzz: $$dir $$name for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$dir"; \
	    targets=$$((targets + 1)); \
	  done; \
	done; \
	echo "fuzz: $$targets targets run"

clean:
	rm -rf bin .bin
