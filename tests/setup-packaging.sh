#!/usr/bin/env bash
# Makes what the packaging tests (tests/packaging/) need available, after tests/setup-docker.sh
# has a Docker engine running:
#  - the packaging tools under target/ (packaging/tools.sh: cargo-zigbuild and zig from PyPI,
#    cargo-deb from crates.io), nothing system-wide;
#  - shellcheck and dpkg-deb (Debian packages);
#  - `sn27-test-systemd:bookworm-minimal`: Debian bookworm with systemd 252 as PID 1 and
#    nothing more (systemd, systemd-sysv, dbus; no procps, so no /bin/kill), for the unit
#    under a real systemd on a minimal host;
#  - `sn27-test-oldglibc:bullseye`: Debian bullseye (glibc 2.31, older than the build host's
#    2.36), where the zigbuild binary must run;
#  - the .deb the tests install: packaging/build-deb.sh --debug (a debug build keeps CI time
#    down; the release build is the same script without the flag).
# Images are made by debootstrap and `docker import` (no image registry is needed) and kept
# once built. Prints the path of the .deb.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/target"

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

command -v shellcheck >/dev/null 2>&1 || install shellcheck
command -v dpkg-deb >/dev/null 2>&1 || install dpkg
command -v debootstrap >/dev/null 2>&1 || install debootstrap

# debootstrap_image IMAGE SUITE PACKAGES: builds IMAGE from a minbase rootfs of SUITE.
debootstrap_image() {
  local image=$1 suite=$2 packages=$3 rootfs
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  rootfs=$(mktemp -d -t sn27-rootfs.XXXXXX)
  echo "building $image with debootstrap ($suite)..." >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" \
    http://deb.debian.org/debian >&2
  # An empty machine id: systemd makes one at each boot, without a first-boot wizard.
  rm -f "$rootfs/var/lib/dbus/machine-id"
  : >"$rootfs/etc/machine-id"
  # mktemp made the root 0700; the image's / must let services that are not root in.
  chmod 0755 "$rootfs"
  tar -C "$rootfs" -c . | docker import - "$image" >&2
  rm -rf "$rootfs"
}

# The images (network and disk) are made while the binary (CPU) is built.
images_log="$root/target/setup-packaging-images.log"
(
  debootstrap_image sn27-test-systemd:bookworm-minimal bookworm systemd,systemd-sysv,dbus
  debootstrap_image sn27-test-oldglibc:bullseye bullseye procps
) 2>"$images_log" &
images=$!
deb=$(bash "$root/packaging/build-deb.sh" --debug)
if ! wait "$images"; then
  cat "$images_log" >&2
  echo "building the packaging test images failed (log above: $images_log)" >&2
  exit 1
fi
echo "$deb"
