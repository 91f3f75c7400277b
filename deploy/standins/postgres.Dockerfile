# Stand-in for postgres:<version>-bookworm (see README.md): a test scaffold.
# Debian 12's PostgreSQL 15 (its minor version, not the tag's), with an
# entrypoint that does what compose.yaml relies on from the official image:
# POSTGRES_PASSWORD and POSTGRES_DB on the first start, the scripts in
# /docker-entrypoint-initdb.d, password authentication over the network.
FROM debian:bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data POSTGRES_USER=postgres
USER postgres
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
