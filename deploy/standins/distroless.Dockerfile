# Stand-in for gcr.io/distroless/static-debian12:nonroot (see README.md): a
# test scaffold with what the static image holds that a Go binary uses.
FROM scratch
COPY rootfs/ /
USER 65532:65532
WORKDIR /home/nonroot
