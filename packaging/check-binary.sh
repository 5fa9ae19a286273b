#!/usr/bin/env bash
# Checks that an sn27 binary needs nothing but glibc, at version 2.17 or older: its dynamic
# libraries (readelf NEEDED) are glibc's own or libgcc_s (which libc6 depends on), and no
# symbol it imports asks for a newer GLIBC_ version. A failure names what is wrong.
#
#   packaging/check-binary.sh PATH
set -euo pipefail
binary=${1:?usage: $0 PATH}
max=2.17
allowed="libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libutil.so.1 ld-linux-x86-64.so.2 libgcc_s.so.1"

needed=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
status=0
for library in $needed; do
  case " $allowed " in
  *" $library "*) ;;
  *)
    echo "$binary needs $library, which is not part of glibc" >&2
    status=1
    ;;
  esac
done

# Every glibc symbol version the binary imports.
versions=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -u -V)
newest=${versions##*$'\n'}
for version in $versions; do
  if [ "$(printf '%s\n%s\n' "$version" "$max" | sort -V | tail -n 1)" != "$max" ]; then
    echo "$binary needs GLIBC_$version (at most GLIBC_$max is allowed), for:" >&2
    objdump -T "$binary" | grep -F "(GLIBC_$version)" >&2 || true
    status=1
  fi
done
# shellcheck disable=SC2086,SC2116 # the list on one line
[ "$status" = 0 ] && echo "$binary: needs $(echo $needed); newest glibc symbol version GLIBC_$newest" >&2
exit "$status"
