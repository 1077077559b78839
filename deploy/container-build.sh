#!/bin/sh
# container-build.sh DESTDIR: the Dockerfile's build stage. Builds ingestd from the source
# tree it is run in (autoreconf, configure for /usr and /etc, make) and installs into
# DESTDIR what the runtime image needs, and nothing else: /usr/sbin/ingestd (stripped)
# and the example /etc/ingestd.conf. The systemd unit and the manual pages stay out of the image.
# tests/deploy/rootfs_chroot.py builds the chroot test's binary with it too.
set -eu

dest=${1:?usage: container-build.sh DESTDIR}
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p m4        # ACLOCAL_AMFLAGS names it; a fresh checkout has none
autoreconf -fi
mkdir -p build-container
cd build-container
../configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var
make -j"$jobs"
make install-strip DESTDIR="$dest"
rm -rf "$dest/usr/share/man" "$dest/usr/lib/systemd" "$dest/lib/systemd"
# No empty directory may be left: COPY --from=build /out/ / must not replace the image's
# /lib symlink (merged /usr) with a directory.
find "$dest" -depth -mindepth 1 -type d -empty -delete
