#!/usr/bin/env bash
# Makes a Docker engine and the test base image available for the miner tests:
#  - starts dockerd (vfs storage, no iptables) when none answers, installing docker.io first
#    if needed (Debian; needs root);
#  - builds `sn27-test-base:bookworm-py` when missing: a minimal Debian rootfs with openssh-server
#    and python3 (the Proof-of-GPU worker's CPU test mode runs on it), made by debootstrap and
#    imported (no image registry is needed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=sn27-test-base:bookworm-py
log="$root/target/dockerd.log"
mkdir -p "$root/target"

install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; }
}

# The tests make SSH keys for renters.
command -v ssh-keygen >/dev/null 2>&1 || install openssh-client

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing docker.io..." >&2
    install docker.io
  fi
  echo "starting dockerd (log: $log)..." >&2
  nohup dockerd --storage-driver=vfs --iptables=false >"$log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see $log" >&2; exit 1; }
fi

if ! docker image inspect "$image" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || install debootstrap
  rootfs=$(mktemp -d -t sn27-rootfs.XXXXXX)
  echo "building $image with debootstrap..." >&2
  debootstrap --variant=minbase --include=openssh-server,openssh-sftp-server,procps,python3-minimal,python3 \
    bookworm "$rootfs" http://deb.debian.org/debian >&2
  tar -C "$rootfs" -c . | docker import - "$image" >&2
  rm -rf "$rootfs"
fi
echo "$image"
