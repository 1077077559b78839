# ingestd container image: `docker build -t ingestd .` (README.md, "On ECS").
#
# Two stages: the build stage compiles with Debian 12's -dev packages; the runtime stage is
# debian:12-slim plus only the shared libraries ingestd links, prepared by
# deploy/rootfs-install.sh (the same script tests/deploy/rootfs_chroot.py runs in an
# mmdebstrap chroot to test this root without a container engine).
#
#   docker run --rm -v "$PWD/ingestd.conf:/etc/ingestd.conf:ro" ingestd
#   docker run --rm -v "$PWD/ingestd.conf:/etc/ingestd.conf:ro" ingestd --check-config
#
# In containers set `log_format = json` in [ingestd]: one JSON object per line on stderr.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake pkg-config \
      libcurl4-openssl-dev libssl-dev libjansson-dev zlib1g-dev libzstd-dev libinih-dev \
      libcsv-dev libpq-dev libmariadb-dev libsystemd-dev liblua5.4-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN sh deploy/container-build.sh /out

FROM debian:12-slim AS runtime
COPY deploy/rootfs-install.sh /tmp/rootfs-install.sh
RUN sh /tmp/rootfs-install.sh && rm /tmp/rootfs-install.sh
COPY --from=build /out/ /
USER 10001:10001
# Docker runs the health check as its own process; it asks the daemon's /healthz on
# metrics_listen (which the configuration must set, e.g. 127.0.0.1:9464).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["ingestd", "health", "-c", "/etc/ingestd.conf"]
# SIGTERM drains: running loads finish within shutdown_timeout (docker stop -t above it).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ingestd", "-c", "/etc/ingestd.conf"]
