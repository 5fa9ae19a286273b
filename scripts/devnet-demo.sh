#!/usr/bin/env bash
# The local devnet demo: a throwaway config, wallets and devnet under one directory, then a
# miner's on-chain life (fund, register, publish the axon, read the metagraph) and, when a
# Docker engine answers, the main job itself: `sn27 run` serving a miner that a validator on
# the same devnet rents a container from, logs into over SSH and releases.
# Everything stays in that directory (default: a new temporary one); nothing leaves the machine.
#
# The rented container is built from $SN27_DEMO_BASE_IMAGE (default sn27-test-base:bookworm-py,
# which tests/setup-docker.sh makes without any registry).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-$(mktemp -d -t sn27-demo.XXXXXX)}
base_image=${SN27_DEMO_BASE_IMAGE:-sn27-test-base:bookworm-py}
mkdir -p "$demo"
bin="$root/target/release/sn27"
sn27() { "$bin" --config "$demo/sn27.toml" "$@"; }
validator() { "$bin" --config "$demo/validator.toml" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
axon_port=$(free_port)
ssh_port=$(free_port)
cat > "$demo/sn27.toml" <<TOML
role = "miner"
state_dir = "$demo/state"

[chain]
network = "devnet"
devnet_path = "$demo/devnet.sqlite"

[wallet]
name = "demo-miner"
path = "$demo/wallets"

[axon]
port = $axon_port
external_ip = "127.0.0.1"

[miner]
ssh_port = $ssh_port

[miner.container]
base_image = "$base_image"
reserve_memory_gb = 0.5
TOML
cat > "$demo/validator.toml" <<TOML
role = "validator"
state_dir = "$demo/validator-state"

[chain]
network = "devnet"
devnet_path = "$demo/devnet.sqlite"

[wallet]
name = "demo-validator"
path = "$demo/wallets"
TOML

echo "== config";            sn27 config check > /dev/null && echo "ok ($demo/sn27.toml)"
echo "== devnet";            sn27 devnet init --block-time 1
echo "== wallet";            sn27 wallet create --no-password --no-print-mnemonic
coldkey=$(sn27 wallet show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["coldkey"])')
hotkey=$(sn27 wallet show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hotkey"])')
echo "== fund the coldkey";  sn27 devnet fund "$coldkey" 5
echo "== register";          sn27 register --yes
sleep 1
echo "== publish the axon";  sn27 serve-axon
echo "== chain";             sn27 chain info
echo "== metagraph";         sn27 metagraph

if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  echo
  echo "no Docker engine with $base_image here: the miner part is skipped"
  echo "(run tests/setup-docker.sh as root to get both, then run this demo again)"
  echo "demo state kept in $demo"
  exit 0
fi

echo "== a validator";       validator wallet create --no-password --no-print-mnemonic
validator_hotkey=$(validator wallet show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hotkey"])')
sn27 devnet register "$validator_hotkey" --stake 2000
echo "== sn27 run (log: $demo/miner.log)"
sn27 run > "$demo/miner.log" 2>&1 &
miner=$!
trap 'kill $miner 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $axon_port), 0.5)" 2>/dev/null && break
  kill -0 $miner 2>/dev/null || { cat "$demo/miner.log"; exit 1; }
  sleep 1
done
ssh-keygen -q -t ed25519 -N "" -f "$demo/renter"
echo "== rent";              validator rent --hotkey "$hotkey" --cpus 1 --ram 0.5 --days 1 --ssh-key "$demo/renter.pub"
echo "== log in";            ssh -i "$demo/renter" -p "$ssh_port" -o StrictHostKeyChecking=no \
                               -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 \
                               'echo "inside: $(nproc) CPU, $(hostname)"'
echo "== rentals";           validator rentals
echo "== release";           validator release "$hotkey"
kill -TERM $miner; wait $miner || true
trap - EXIT
echo
echo "demo state kept in $demo"
