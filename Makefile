# marketfleet: `make demo` runs the fleet locally, `make test` runs every test.
# Both start the services they need (scripts/postgres.sh) on a fresh machine.

GO      ?= go
BIN     := bin
SHELL   := /usr/bin/env bash

.PHONY: all build nats-server nats-cli demo test bench fuzz lint vet fmt services clean promtool monitoring

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The JetStream server, built from the nats-server module pinned in go.mod
# (Debian's nats-server 2.9 is too old for the fleet).
nats-server: $(BIN)/nats-server
$(BIN)/nats-server: go.mod go.sum
	$(GO) build -o $(BIN)/nats-server github.com/nats-io/nats-server/v2

# The stock nats CLI (natscli), to send on-demand requests:
#   bin/nats req marketfleet.request.collect '{"symbols":["AAPL"],"range":"5d"}'
# The e2e tests build the same version.
NATSCLI_VERSION := v0.5.0
nats-cli: $(BIN)/nats
$(BIN)/nats:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)

# Runs the demo: 50 symbols, 3 workers, synthetic data, against
# $DATABASE_URL if set, else a local PostgreSQL started if needed.
demo: build nats-server
	@if [ -n "$$DATABASE_URL" ]; then \
		$(BIN)/demo; \
	else \
		admin=$$(scripts/postgres.sh up) && $(BIN)/demo --admin-url "$$admin"; \
	fi

# Every test, with the race detector, against a real PostgreSQL (started
# if needed) and in-process nats-servers. $MARKETFLEET_TEST_DATABASE_URL
# overrides the server; DATABASE_URL is never used by tests.
test: promtool
	@admin=$${MARKETFLEET_TEST_DATABASE_URL:-$$(env -u DATABASE_URL scripts/postgres.sh up)} && \
		MARKETFLEET_TEST_DATABASE_URL="$$admin" $(GO) test -race -count=1 ./...

# The benchmark (BENCHMARKS.md): pooled-concurrent, sequential and
# marketfleet on the same PostgreSQL and nats-server, as ratios, plus the
# ceilings, the scaling series and the targets. Writes bench/results.json.
# BENCHFLAGS passes options, e.g. BENCHFLAGS="-runs 1 -n 500".
bench:
	@admin=$${MARKETFLEET_BENCH_DATABASE_URL:-$$(env -u DATABASE_URL scripts/postgres.sh up)} && \
		$(GO) run ./bench --admin-url "$$admin" $(BENCHFLAGS)

# promtool checks and unit-tests the alert rules (go test ./deploy/monitoring
# fails without it); scripts/promtool.sh installs Debian's prometheus package
# when it is missing.
promtool:
	@scripts/promtool.sh >/dev/null

# The monitoring checks alone: alert rules, their unit tests, the dashboard.
monitoring: promtool
	$(GO) test -count=1 ./deploy/monitoring

fuzz:
	$(GO) test -run=NONE -fuzz=FuzzDecode -fuzztime=30s ./tasks

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

services: nats-server
	@scripts/postgres.sh up

clean:
	rm -rf $(BIN) .demo
