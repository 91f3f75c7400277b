# Stand-in for prom/prometheus:v<version> (see README.md): a test scaffold.
# Debian 12's prometheus package, laid out like the official image (its
# storage default is /var/lib/prometheus/metrics2, writable by nobody here).
FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus /var/lib/prometheus/metrics2 \
 && chown -R nobody:nogroup /prometheus /var/lib/prometheus
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
