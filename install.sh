#!/bin/sh
# Installs sn27 (the Bittensor Subnet 27 miner/validator) on this machine:
#
#   curl -fsSL https://example.org/sn27/install.sh | sudo sh -s -- https://example.org/sn27/
#   sh install.sh [OPTIONS] BASE_URL
#
# BASE_URL holds the release artifacts (what packaging/build-deb.sh writes into target/debian/):
# SHA256SUMS, the .deb and the tarball. It may be an http(s):// or file:// URL or a directory.
# On Debian and Ubuntu the .deb is installed (apt/dpkg: upgrades, removal, a kept
# configuration); elsewhere the binary goes to /usr/local/bin and the unit to
# /etc/systemd/system. Either way an existing /etc/sn27/sn27.toml is kept, the service is not
# started, and running the script again changes nothing that is already in place.
# Options: see usage() below, or install.sh --help.
set -eu

usage() {
  cat <<'EOF'
Installs sn27 (the Bittensor Subnet 27 miner/validator) on this machine:

  curl -fsSL https://example.org/sn27/install.sh | sudo sh -s -- https://example.org/sn27/
  sh install.sh [OPTIONS] BASE_URL

BASE_URL holds the release artifacts (what packaging/build-deb.sh writes into target/debian/):
SHA256SUMS, the .deb and the tarball. It may be an http(s):// or file:// URL or a directory.
On Debian and Ubuntu the .deb is installed (apt/dpkg: upgrades, removal, a kept
configuration); elsewhere the binary goes to /usr/local/bin and the unit to
/etc/systemd/system. Either way an existing /etc/sn27/sn27.toml is kept, the service is not
started, and running the script again changes nothing that is already in place.

Options:
  --dry-run               print the plan (every step and command), change nothing
  --root DIR              install the files under DIR instead of / (no package manager, no
                          user, no systemctl: for tests and image builds)
  --method deb|files      force the installation method (default: deb where dpkg is)
  --with-docker           also install Docker (docker.io) and let the sn27 user use it
  --with-nvidia-toolkit   also install the NVIDIA container toolkit and configure Docker
                          for it (GPU miners; adds NVIDIA's apt repository)
  --with-firewall         also open a miner's configured ports (axon, SSH and user ports)
                          with ufw or firewalld (a validator needs none); with --root, a
                          dry run shows the rules for DIR's configuration
  -h, --help              this text
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

# --- arguments -----------------------------------------------------------------------------

dry_run=false
root=
method=
with_docker=false
with_nvidia=false
with_firewall=false
base_url=
while [ $# -gt 0 ]; do
  case "$1" in
  --dry-run) dry_run=true ;;
  --root)
    [ $# -ge 2 ] || die "--root needs a directory"
    root=$2
    shift
    ;;
  --root=*) root=${1#--root=} ;;
  --method)
    [ $# -ge 2 ] || die "--method needs deb or files"
    method=$2
    shift
    ;;
  --method=*) method=${1#--method=} ;;
  --with-docker) with_docker=true ;;
  --with-nvidia-toolkit) with_nvidia=true ;;
  --with-firewall) with_firewall=true ;;
  -h | --help)
    usage
    exit 0
    ;;
  -*) die "unknown option $1 (see --help)" ;;
  *)
    [ -z "$base_url" ] || die "one BASE_URL only (got $base_url and $1)"
    base_url=$1
    ;;
  esac
  shift
done
[ -n "$base_url" ] || die "usage: install.sh [OPTIONS] BASE_URL (see --help)"
case "$method" in
"" | deb | files) ;;
*) die "--method is deb or files, not $method" ;;
esac
if [ -n "$root" ]; then
  case "$root" in
  /*) ;;
  *) root=$(pwd)/$root ;;
  esac
  root=${root%/}
fi

# --- output --------------------------------------------------------------------------------

step_number=0
# step TEXT: says what comes next and why, before it is done.
step() {
  step_number=$((step_number + 1))
  printf '\n==> %s. %s\n' "$step_number" "$*"
}

note() {
  printf '    %s\n' "$*"
}

# run COMMAND...: prints the command, then runs it unless this is a dry run.
run() {
  printf '    $ %s\n' "$*"
  if [ "$dry_run" = false ]; then
    "$@"
  fi
}

if [ "$dry_run" = true ]; then
  echo "Dry run: the plan below is printed, nothing is downloaded or changed."
fi

# --- where we are --------------------------------------------------------------------------

step "Detect the operating system and architecture"
arch=$(uname -m)
case "$arch" in
x86_64 | amd64)
  deb_arch=amd64
  tar_arch=x86_64-linux-gnu
  ;;
*) die "no sn27 build for $arch yet (x86_64 only)" ;;
esac
[ "$(uname -s)" = Linux ] || die "sn27 runs on Linux only, not $(uname -s)"
os_id=unknown
os_like=
os_name="Linux"
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091 # the host's file
  os_id=$(. /etc/os-release && echo "${ID:-unknown}")
  # shellcheck disable=SC1091
  os_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
  # shellcheck disable=SC1091
  os_name=$(. /etc/os-release && echo "${PRETTY_NAME:-Linux}")
fi
debian_like=false
case " $os_id $os_like " in
*" debian "* | *" ubuntu "*) debian_like=true ;;
esac
if [ -z "$method" ]; then
  if [ -z "$root" ] && [ "$debian_like" = true ] && command -v dpkg >/dev/null 2>&1; then
    method=deb
  else
    method=files
  fi
fi
[ -z "$root" ] || [ "$method" = files ] || die "--root installs files only (--method files)"
systemd=false
[ -z "$root" ] && [ -d /run/systemd/system ] && systemd=true
note "system: $os_name ($os_id), $arch"
note "method: $(if [ "$method" = deb ]; then echo "the .deb package"; else echo "binary and unit files"; fi)"
if [ -n "$root" ]; then
  note "target: $root (no package manager, user or systemctl)"
fi
if [ "$dry_run" = false ] && [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
  die "installing into / needs root: run it with sudo (or see --dry-run, --root)"
fi

# --- artifacts -----------------------------------------------------------------------------

base_url=${base_url%/}
# fetch NAME DEST: copies BASE_URL/NAME to DEST.
fetch() {
  case "$base_url" in
  http://* | https://*)
    if command -v curl >/dev/null 2>&1; then
      run curl -fsSL --retry 3 -o "$2" "$base_url/$1"
    elif command -v wget >/dev/null 2>&1; then
      run wget -q -O "$2" "$base_url/$1"
    else
      die "neither curl nor wget is installed"
    fi
    ;;
  file://*) run cp "${base_url#file://}/$1" "$2" ;;
  *) run cp "$base_url/$1" "$2" ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

work=
cleanup() {
  [ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM
work=$(mktemp -d "${TMPDIR:-/tmp}/sn27-install.XXXXXX")

if [ "$method" = deb ]; then
  pattern="sn27_*_$deb_arch.deb"
else
  pattern="sn27_*_$tar_arch.tar.gz"
fi
step "Download the release list (SHA256SUMS) and the artifact ($pattern) from $base_url, and check its checksum"
fetch SHA256SUMS "$work/SHA256SUMS"
if [ "$dry_run" = true ]; then
  artifact=$pattern
  note "(dry run: the artifact named in SHA256SUMS would be fetched and its checksum compared)"
else
  # A line is "<sha256>  <name>"; the newest version listed last wins.
  line=$(while read -r sum name; do
    # shellcheck disable=SC2254 # the pattern is a glob
    case "$name" in
    $pattern) echo "$sum $name" ;;
    esac
  done <"$work/SHA256SUMS" | tail -n 1)
  [ -n "$line" ] || die "$base_url/SHA256SUMS names no $pattern"
  artifact=${line#* }
  expected=${line%% *}
  fetch "$artifact" "$work/$artifact"
  actual=$(sha256 "$work/$artifact")
  [ "$actual" = "$expected" ] || die "$artifact: checksum $actual, SHA256SUMS says $expected"
  note "$artifact: checksum matches"
fi

# --- installation --------------------------------------------------------------------------

config=$root/etc/sn27/sn27.toml
config_existed=false
[ -e "$config" ] && config_existed=true

if [ "$method" = deb ]; then
  step "Install the package with apt (libc6 is its only dependency); dpkg keeps an existing /etc/sn27/sn27.toml, creates the sn27 user and /var/lib/sn27, and does not start the service"
  if command -v apt-get >/dev/null 2>&1; then
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "$work/$artifact"
  else
    run dpkg --force-confdef --force-confold -i "$work/$artifact"
  fi
  sn27=/usr/bin/sn27
  docs=/usr/share/doc/sn27
else
  step "Unpack the binary, the systemd unit and the user and directory declarations"
  run tar -xzf "$work/$artifact" -C "$work"
  bin_dir=$root/usr/local/bin
  unit_dir=$root/etc/systemd/system
  sn27=$bin_dir/sn27
  docs=/usr/local/share/doc/sn27
  # place SOURCE DEST MODE: installs SOURCE as DEST unless DEST already has those bytes.
  place() {
    if [ "$dry_run" = false ] && [ -f "$2" ] && cmp -s "$1" "$2"; then
      note "$2: already up to date"
    else
      run install -D -m "$3" "$1" "$2"
    fi
  }
  step "Install the binary as $bin_dir/sn27"
  place "$work/usr/bin/sn27" "$bin_dir/sn27" 755
  step "Install the unit as $unit_dir/sn27.service (running $bin_dir/sn27), with the sn27 user (sysusers.d) and /var/lib/sn27 (tmpfiles.d)"
  if [ "$dry_run" = false ]; then
    sed -e "s|/usr/bin/sn27|/usr/local/bin/sn27|g" -e "s|/usr/share/doc/sn27|/usr/local/share/doc/sn27|g" \
      "$work/usr/lib/systemd/system/sn27.service" >"$work/sn27.service"
  fi
  place "$work/sn27.service" "$unit_dir/sn27.service" 644
  place "$work/usr/lib/sysusers.d/sn27.conf" "$root/etc/sysusers.d/sn27.conf" 644
  place "$work/usr/lib/tmpfiles.d/sn27.conf" "$root/etc/tmpfiles.d/sn27.conf" 644
  place "$work/usr/share/doc/sn27/sn27.toml.example" "$root/usr/local/share/doc/sn27/sn27.toml.example" 644
  place "$work/usr/share/doc/sn27/operations.md" "$root/usr/local/share/doc/sn27/operations.md" 644
  step "Install the configuration /etc/sn27/sn27.toml from the example, unless one exists"
  if [ "$config_existed" = true ]; then
    note "$config exists: kept as it is (the new example is in /usr/local/share/doc/sn27/)"
  else
    run install -D -m 644 "$work/etc/sn27/sn27.toml" "$config"
  fi
  step "Create the sn27 user and /var/lib/sn27, and tell systemd about the unit"
  if [ -n "$root" ]; then
    note "skipped under --root: a system booted from $root creates both (systemd-sysusers, systemd-tmpfiles) at start-up"
  else
    if command -v systemd-sysusers >/dev/null 2>&1; then
      run systemd-sysusers /etc/sysusers.d/sn27.conf
    elif ! getent passwd sn27 >/dev/null 2>&1; then
      run useradd --system --user-group --home-dir /var/lib/sn27 --no-create-home \
        --shell /usr/sbin/nologin sn27
    else
      note "user sn27 exists"
    fi
    if command -v systemd-tmpfiles >/dev/null 2>&1; then
      run systemd-tmpfiles --create /etc/tmpfiles.d/sn27.conf
    else
      run install -d -m 0750 -o sn27 -g sn27 /var/lib/sn27
    fi
    if [ "$systemd" = true ]; then
      run systemctl daemon-reload
      note "a running sn27 is restarted on the new binary; a stopped one stays stopped"
      run systemctl try-restart sn27.service
    else
      note "systemd is not running here: start sn27 with your init system ($bin_dir/sn27 --config /etc/sn27/sn27.toml run)"
    fi
  fi
  if [ -z "$root" ] && getent group docker >/dev/null 2>&1 &&
    ! id -nG sn27 2>/dev/null | tr ' ' '\n' | grep -qx docker; then
    step "Let the sn27 user use Docker (a miner needs the Docker socket)"
    run usermod -a -G docker sn27
  fi
fi

# --- optional steps ------------------------------------------------------------------------

if [ "$with_docker" = true ]; then
  step "Install Docker (docker.io), start it, and let the sn27 user use it (a miner rents containers through it)"
  [ -z "$root" ] || die "--with-docker installs packages and cannot be used with --root"
  if command -v docker >/dev/null 2>&1; then
    note "docker is installed: $(command -v docker)"
  elif [ "$debian_like" = true ]; then
    run env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  else
    die "install Docker with your distribution's package manager, then run this again"
  fi
  if [ "$systemd" = true ]; then
    run systemctl enable --now docker.service
  fi
  if [ "$dry_run" = true ] || ! id -nG sn27 2>/dev/null | tr ' ' '\n' | grep -qx docker; then
    run usermod -a -G docker sn27
  else
    note "sn27 is in the docker group"
  fi
fi

if [ "$with_nvidia" = true ]; then
  step "Install the NVIDIA container toolkit from NVIDIA's apt repository and make it Docker's GPU runtime (needs the NVIDIA driver)"
  [ -z "$root" ] || die "--with-nvidia-toolkit installs packages and cannot be used with --root"
  [ "$debian_like" = true ] || die "--with-nvidia-toolkit knows Debian and Ubuntu only; see NVIDIA's container toolkit install guide"
  if command -v nvidia-ctk >/dev/null 2>&1; then
    note "nvidia-ctk is installed: $(command -v nvidia-ctk)"
  else
    keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
    list=/etc/apt/sources.list.d/nvidia-container-toolkit.list
    nvidia=https://nvidia.github.io/libnvidia-container
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl gnupg
    run sh -c "curl -fsSL $nvidia/gpgkey | gpg --dearmor --yes -o $keyring"
    run sh -c "curl -fsSL $nvidia/stable/deb/nvidia-container-toolkit.list | sed 's#deb https://#deb [signed-by=$keyring] https://#' > $list"
    run env DEBIAN_FRONTEND=noninteractive apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nvidia-container-toolkit
  fi
  run nvidia-ctk runtime configure --runtime=docker
  if [ "$systemd" = true ]; then
    run systemctl restart docker.service
  fi
fi

if [ "$with_firewall" = true ]; then
  step "Open the configured ports in the firewall: a miner's axon port, SSH port and user ports ([miner] user_ports), which validators and renters reach"
  [ -z "$root" ] || [ "$dry_run" = true ] ||
    die "--with-firewall changes the host's firewall and cannot be used with --root (except in a dry run)"
  ports=
  if [ "$dry_run" = true ] && [ ! -x "$sn27" ]; then
    ports="8091 4444 27015 27016 27017 27018"
    note "(dry run: the ports would be read from $config; the example's are $ports)"
  else
    # The effective configuration (defaults, file, environment) as sn27 reads it.
    effective=
    if ! effective=$("$sn27" config check --config "$config"); then
      [ "$dry_run" = true ] || die "$config has problems (above); fix them, then run this again"
      note "(dry run: $config has problems, shown above; they must be fixed first)"
    fi
    # A miner's [axon] port, [miner] ssh_port and user_ports (an inline array,
    # `user_ports = [27015, 27016]`, read across lines too); a validator serves nothing that
    # peers call (its metrics stay private).
    ports=$(echo "$effective" | awk '
      /^\[/ { section = $0; listing = 0; next }
      section == "" && $1 == "role" { role = $3 }
      section == "[axon]" && $1 == "port" { axon = $3 }
      section == "[miner]" && $1 == "ssh_port" { ssh = $3 }
      section == "[miner]" && $1 == "user_ports" { listing = 1; sub(/^[^=]*=/, "") }
      listing {
        last = index($0, "]") > 0
        gsub(/[^0-9]+/, " ")
        user = user " " $0
        if (last) listing = 0
      }
      END {
        if (role != "\"miner\"") exit
        if (axon != "") print axon
        if (ssh != "") print ssh
        n = split(user, numbers, " ")
        for (i = 1; i <= n; i++) print numbers[i]
      }')
  fi
  if [ -z "$ports" ]; then
    note "nothing to open: a validator serves no port that peers call (keep [metrics] listen private)"
  elif command -v ufw >/dev/null 2>&1; then
    for port in $ports; do
      run ufw allow "$port/tcp"
    done
  elif command -v firewall-cmd >/dev/null 2>&1; then
    for port in $ports; do
      run firewall-cmd --permanent --add-port="$port/tcp"
    done
    run firewall-cmd --reload
  else
    message="neither ufw nor firewalld is installed: open TCP ports $(echo "$ports" | tr '\n' ' ')yourself"
    [ "$dry_run" = true ] || die "$message"
    note "(dry run: $message)"
  fi
fi

# --- done ----------------------------------------------------------------------------------

step "Check the installation"
if [ "$dry_run" = true ]; then
  run "$sn27" --version
else
  version=$("$sn27" --version) || die "$sn27 does not run here"
  note "$sn27: $version"
fi

if [ "$config_existed" = true ]; then
  config_state="kept as it was"
else
  config_state="new, from the example: edit it"
fi
if [ "$dry_run" = true ]; then
  done_line="Dry run: nothing was changed. After the installation:"
else
  done_line="sn27 is installed; the service is not started. Next:"
fi
cat <<EOF

$done_line

  1. Configure it: $config ($config_state).
     Put the wallet where the config says (as the sn27 user, ~ is /var/lib/sn27).
  2. Check the host:            sudo -u sn27 $sn27 check
  3. Start it now and at boot:  sudo systemctl enable --now sn27
  4. Follow its log:            journalctl -u sn27 -f

Operations guide: $docs/operations.md
EOF
