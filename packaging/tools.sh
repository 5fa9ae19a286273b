#!/usr/bin/env bash
# Installs the packaging tools under target/, nothing system-wide, and prints the directories
# of their executables as a PATH prefix ("a:b", to put first on PATH):
#  - cargo-zigbuild and zig, from PyPI, in a virtual environment (target/pkg-venv);
#  - cargo-deb, from crates.io, with `cargo install --locked --root target/pkg-tools`.
# Pinned versions; each is (re)installed only when missing or at another version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
zigbuild_version=0.24.1
zig_version=0.17.1
deb_version=3.8.0

venv="$root/target/pkg-venv"
stamp="$venv/.versions"
want="cargo-zigbuild==$zigbuild_version ziglang==$zig_version"
if [ ! -x "$venv/bin/cargo-zigbuild" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing $want into $venv..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # two requirement words
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input $want >&2
  echo "$want" > "$stamp"
fi

tools="$root/target/pkg-tools"
if [ "$("$tools/bin/cargo-deb" --version 2>/dev/null)" != "cargo-deb $deb_version" ]; then
  echo "installing cargo-deb $deb_version into $tools..." >&2
  cargo install --quiet --locked --force --version "$deb_version" --root "$tools" cargo-deb >&2
fi

# cargo finds cargo-zigbuild and cargo-deb on PATH as subcommands; cargo-zigbuild runs zig as
# `python3 -m ziglang`, the virtual environment's python3.
echo "$tools/bin:$venv/bin"
