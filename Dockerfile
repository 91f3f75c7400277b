# marketfleet images: static binaries on distroless, run as non-root.
#
#   make image   # both, with stand-in base images where no registry answers
#   docker build -t marketfleet:dev --target marketfleet .   # worker, producer, fleetctl
#   docker build -t marketfleet-nats:dev --target nats .     # nats-server pinned in go.mod
#
# No "# syntax=" line: it makes BuildKit fetch a frontend image, which an
# offline builder cannot; the file builds with BuildKit and the classic
# builder alike. GOPROXY may be passed with --build-arg (make image passes
# the host's).
#
# The toolchain matches the Makefile's GOTOOLCHAIN (go1.26.8's standard
# library has known vulnerabilities; make vulncheck).

FROM golang:1.27.3-bookworm AS build
ARG GOPROXY=https://proxy.golang.org,direct
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath GOPROXY=$GOPROXY
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/producer ./cmd/fleetctl \
 && go build -ldflags="-s -w" -o /out/nats-server github.com/nats-io/nats-server/v2 \
 && mkdir -p /out/nats-data

# nats-server, with the shipped configuration (passwords from the environment).
FROM gcr.io/distroless/static-debian12:nonroot AS nats
COPY --from=build /out/nats-server /usr/local/bin/nats-server
COPY deploy/nats/nats-server.conf deploy/nats/auth.conf /etc/nats/
# the JetStream store (store_dir), writable by the non-root user
COPY --from=build --chown=65532:65532 /out/nats-data /var/lib/nats
USER nonroot:nonroot
EXPOSE 4222 8222
ENTRYPOINT ["/usr/local/bin/nats-server", "-c", "/etc/nats/nats-server.conf"]

# The fleet: worker (default), producer and fleetctl in one image.
FROM gcr.io/distroless/static-debian12:nonroot AS marketfleet
COPY --from=build /out/worker /out/producer /out/fleetctl /usr/local/bin/
COPY deploy/universe/ /etc/marketfleet/universe/
USER nonroot:nonroot
ENV FLEET_METRICS_ADDR=:9464 FLEET_LOG_FORMAT=json
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/worker"]
