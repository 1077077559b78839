#!/bin/sh
# rootfs-install.sh: turns a Debian 12 root (debian:12-slim) into ingestd's runtime root.
#
# Run as root inside that root: by the Dockerfile's runtime stage, and by
# tests/deploy/rootfs_chroot.py in an mmdebstrap chroot, so that the test runs the daemon
# from the same root the image has. It installs the shared libraries ingestd links
# (RUNTIME_LIBRARIES: tests/deploy/test_dockerfile.py checks the list against the
# binary's NEEDED entries) and CA certificates for HTTPS, no compiler and no -dev
# package, empties apt's caches, and creates the unprivileged user the image runs as.
# The binary itself comes from the build stage (deploy/container-build.sh).
set -eu

RUNTIME_LIBRARIES="libcsv3 libcurl4 libinih1 libjansson4 liblua5.4-0 libmariadb3 libpq5 libssl3 libsystemd0 libzstd1 zlib1g libmicrohttpd12"
RUNTIME_EXTRA="ca-certificates"
# The image's user and group; numeric in the Dockerfile's USER so that "run as non-root"
# policies can check it without reading /etc/passwd.
INGESTD_UID=10001

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # word splitting of the lists is intended
apt-get install -y -q --no-install-recommends $RUNTIME_LIBRARIES $RUNTIME_EXTRA
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

if ! getent passwd ingestd >/dev/null; then
    groupadd --gid "$INGESTD_UID" ingestd
    useradd --uid "$INGESTD_UID" --gid ingestd --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin ingestd
fi
