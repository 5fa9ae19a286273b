#!/usr/bin/env bash
# Builds the sn27 .deb: the binary with cargo-zigbuild against glibc 2.17 (everything linked
# in but glibc, so NVML and CUDA can still be loaded at run time; a static glibc or musl binary
# cannot dlopen them reliably), checked to need nothing newer, then cargo-deb without a build
# of its own. Tools come from packaging/tools.sh (under target/). Beside the .deb: the same
# files as a tarball (the .deb's own data, for install.sh on systems without dpkg) and
# SHA256SUMS; that directory is what install.sh takes as its BASE_URL. Prints the .deb's path.
#
#   packaging/build-deb.sh            release binary, .deb in target/debian/
#   packaging/build-deb.sh --debug    unoptimised binary (profile pkg-test: quicker to build;
#                                     for the tests), .deb in target/debian/debug/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

profile=release
profile_dir=release
out=target/debian
case "${1:-}" in
"") ;;
--debug)
  profile=pkg-test
  profile_dir=pkg-test
  out=target/debian/debug
  ;;
*)
  echo "usage: $0 [--debug]" >&2
  exit 2
  ;;
esac

PATH="$(bash packaging/tools.sh):$PATH"
export PATH

# glibc 2.17 (CentOS 7, Ubuntu 14.04) is the oldest that Rust's std supports.
triple=x86_64-unknown-linux-gnu
echo "== cargo zigbuild --profile $profile --target $triple.2.17" >&2
cargo zigbuild --locked --profile "$profile" --target "$triple.2.17" --bin sn27 >&2
binary="target/$triple/$profile_dir/sn27"

bash packaging/check-binary.sh "$binary" >&2
# The release binary stays within 25 MB (stripped, as [profile.release] builds it).
if [ "$profile" = release ]; then
  size=$(stat -c %s "$binary")
  if [ "$size" -gt $((25 * 1000 * 1000)) ]; then
    echo "$binary is $size bytes, more than the 25 MB a release may take" >&2
    exit 1
  fi
  echo "$binary: $size bytes" >&2
fi

echo "== cargo deb ($profile)" >&2
mkdir -p "$out"
# The tests' package is compressed fast: it is made on every test run.
fast=()
[ "$profile" = release ] || fast=(--fast)
cargo deb --no-build --locked --target "$triple" --profile "$profile" --strip \
  --no-separate-debug-symbols "${fast[@]}" --output "$out" >&2
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
deb="$root/$out/sn27_${version}-1_amd64.deb"
[ -f "$deb" ] || { echo "cargo deb did not write $deb" >&2; exit 1; }

tarball="sn27_${version}_x86_64-linux-gnu.tar.gz"
dpkg-deb --fsys-tarfile "$deb" | gzip -9 -n >"$out/$tarball"
(cd "$out" && sha256sum "$(basename "$deb")" "$tarball" >SHA256SUMS)
echo "== $out: $(basename "$deb") $tarball SHA256SUMS" >&2
echo "$deb"
