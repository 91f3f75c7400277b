# marketfleet: `make demo` runs the fleet locally, `make test` runs every test.
# Both start the services they need (scripts/postgres.sh) on a fresh machine.

GO      ?= go
BIN     := bin
SHELL   := /usr/bin/env bash

# The Go toolchain every target builds and tests with. go1.26.8's standard
# library has known vulnerabilities in code the fleet reaches (make
# vulncheck); the go command fetches go1.27.3 from the module proxy once
# (about 76 MB). Override with make GOTOOLCHAIN=...
export GOTOOLCHAIN := go1.27.3

# Pinned tools, installed into bin/tools by the targets that use them.
TOOLS                 := $(CURDIR)/$(BIN)/tools
GOLANGCI_LINT_VERSION := v2.15.0
GOVULNCHECK_VERSION   := v1.9.0
# The Go vulnerability database as published in golang.org/x/vulndb (OSV
# files), served by the module proxy; vuln.go.dev itself may be unreachable.
# Bump it to the newest pseudo-version to refresh the data.
VULNDB_VERSION        := v0.0.0-20261105234957-e22db6528018

.PHONY: all build nats-server nats-cli demo test bench fuzz lint vulncheck vet fmt services clean promtool chromium monitoring image compose-test k8s-test

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
# if needed), a real PgBouncer in transaction mode in front of it
# (scripts/pgbouncer.sh), in-process nats-servers, and a headless Chromium
# for the audit heatmap. $MARKETFLEET_TEST_DATABASE_URL and
# $MARKETFLEET_TEST_PGBOUNCER_URL override the servers; DATABASE_URL is
# never used by tests.
test: promtool chromium
	@admin=$${MARKETFLEET_TEST_DATABASE_URL:-$$(env -u DATABASE_URL scripts/postgres.sh up)} && \
		pooled=$${MARKETFLEET_TEST_PGBOUNCER_URL:-$$(scripts/pgbouncer.sh up "$$admin")} && \
		MARKETFLEET_TEST_DATABASE_URL="$$admin" MARKETFLEET_TEST_PGBOUNCER_URL="$$pooled" $(GO) test -race -count=1 ./... && \
		cd bench/river && MARKETFLEET_TEST_DATABASE_URL="$$admin" $(GO) test -race -count=1 ./...

# The benchmark (BENCHMARKS.md), three modes in one run, each selectable
# alone (BENCHFLAGS=-modes throughput|durable|source, or -durable):
# throughput (pooled-concurrent, sequential, River from the nested module
# bench/river, and marketfleet on the same PostgreSQL and nats-server, as
# ratios, with the ceilings, CPU profiles, scaling and exhaustion), durable
# (nats-server with sync_interval: always, fsyncs counted with strace) and
# source (a fake Yahoo at 200 ms, the rate it sees). Writes
# bench/results.json and bench/profiles/. BENCHFLAGS passes options, e.g.
# BENCHFLAGS="-runs 1 -n 500".
bench:
	@admin=$${MARKETFLEET_BENCH_DATABASE_URL:-$$(env -u DATABASE_URL scripts/postgres.sh up)} && \
		scripts/debian-tool.sh strace strace STRACE "install strace (the durable mode counts fsyncs with it)" >/dev/null && \
		$(GO) run ./bench --admin-url "$$admin" $(BENCHFLAGS)

# The images: marketfleet:dev (worker, producer, fleetctl) and
# marketfleet-nats:dev, from the Dockerfile with the classic builder, then a
# smoke run of each. scripts/docker.sh starts a Docker engine if none answers
# (installing Debian's docker.io); scripts/base-images.sh pulls the base
# images, or where no registry answers builds stand-ins under their upstream
# names (deploy/standins/README.md).
IMAGE_TAG ?= dev
image:
	@docker=$$(scripts/docker.sh up) && scripts/base-images.sh "$$docker" && \
	for target in marketfleet nats; do \
		name=marketfleet; [ $$target = nats ] && name=marketfleet-nats; \
		echo "building $$name:$(IMAGE_TAG)"; \
		DOCKER_BUILDKIT=0 "$$docker" build -q --build-arg GOPROXY="$$($(GO) env GOPROXY)" \
			--target $$target -t $$name:$(IMAGE_TAG) . >/dev/null || exit 1; \
	done && \
	"$$docker" run --rm marketfleet:$(IMAGE_TAG) --help | grep -q '^FLEET_SOURCE_RATE' && \
	"$$docker" run --rm --entrypoint /usr/local/bin/fleetctl marketfleet:$(IMAGE_TAG) --help 2>&1 | grep -q '^usage: fleetctl' && \
	"$$docker" run --rm marketfleet-nats:$(IMAGE_TAG) --version | grep -q '^nats-server: v2' && \
	echo "images marketfleet:$(IMAGE_TAG) and marketfleet-nats:$(IMAGE_TAG) built and run"

# deploy/compose.yaml for real (deploy/composetest, build tag "compose"): the
# images, stand-ins for postgres and prometheus where no registry answers,
# Docker Compose built from the module proxy (scripts/compose.sh).
compose-test: image
	@docker=$$(scripts/docker.sh up) && scripts/base-images.sh "$$docker" compose && \
		compose=$$(scripts/compose.sh) && \
		DOCKER="$$docker" COMPOSE="$$compose" $(GO) test -tags compose -count=1 -timeout 20m -v ./deploy/composetest

# deploy/k8s/ applied to a real kube-apiserver + etcd (deploy/k8stest, build
# tag "k8s"), server-side with strict validation, the KEDA CRDs installed;
# scripts/k8s.sh builds them from the module proxy (tools/k8s), and kubectl
# when none is installed.
k8s-test:
	@bin=$$(scripts/k8s.sh) && kubectl=$$(command -v kubectl || echo "$$bin/kubectl") && \
		KUBE_BIN="$$bin" KUBECTL="$$kubectl" $(GO) test -tags k8s -count=1 -timeout 20m -v ./deploy/k8stest

# promtool checks and unit-tests the alert rules (go test ./deploy/monitoring
# fails without it); scripts/promtool.sh installs Debian's prometheus package
# when it is missing.
promtool:
	@scripts/promtool.sh >/dev/null

# The audit heatmap's tests render it in a real headless browser;
# scripts/chromium.sh installs Debian's chromium package when it is missing.
chromium:
	@scripts/chromium.sh >/dev/null

# The monitoring checks alone: alert rules, their unit tests, the dashboard.
monitoring: promtool
	$(GO) test -count=1 ./deploy/monitoring

fuzz:
	$(GO) test -run=NONE -fuzz=FuzzDecode -fuzztime=30s ./tasks

vet:
	$(GO) vet ./...
	cd bench/river && $(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

# gofmt, go vet, go mod tidy -diff and golangci-lint (.golangci.yml: the
# standard linters and a depguard rule that forbids connection pools outside
# bench/ and tests).
lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) mod tidy -diff
	cd bench/river && $(GO) mod tidy -diff
	@GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(TOOLS)/golangci-lint run ./...

# govulncheck on every package, against the vulnerability database built
# from the pinned golang.org/x/vulndb snapshot. Fails on a known
# vulnerability in code the fleet reaches.
vulncheck:
	@GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@GOBIN=$(TOOLS) $(GO) install golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION)
	@osv=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p')/data/osv && \
		rm -rf $(BIN)/vulndb && $(TOOLS)/indexdb -vulns "$$osv" -out $(BIN)/vulndb
	$(TOOLS)/govulncheck -db file://$(CURDIR)/$(BIN)/vulndb ./...

services: nats-server
	@scripts/postgres.sh up

clean:
	rm -rf $(BIN) .demo
