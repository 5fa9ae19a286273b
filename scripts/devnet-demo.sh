#!/usr/bin/env bash
# The local devnet demo: a throwaway config, wallet and devnet under one directory, then a
# miner's on-chain life so far: fund, register, publish the axon, read the metagraph.
# Everything stays in that directory (default: a new temporary one); nothing leaves the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
demo=${1:-$(mktemp -d -t sn27-demo.XXXXXX)}
mkdir -p "$demo"
sn27() { "$root/target/release/sn27" --config "$demo/sn27.toml" "$@"; }

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
cat > "$demo/sn27.toml" <<TOML
role = "miner"
state_dir = "$demo/state"

[chain]
network = "devnet"

[wallet]
name = "demo-miner"
path = "$demo/wallets"

[axon]
external_ip = "127.0.0.1"
TOML

echo "== config";            sn27 config check > /dev/null && echo "ok ($demo/sn27.toml)"
echo "== devnet";            sn27 devnet init --block-time 1
echo "== wallet";            sn27 wallet create --no-password --no-print-mnemonic
coldkey=$(sn27 wallet show --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["coldkey"])')
echo "== fund the coldkey";  sn27 devnet fund "$coldkey" 5
echo "== register";          sn27 register --yes
sleep 1
echo "== publish the axon";  sn27 serve-axon
echo "== chain";             sn27 chain info
echo "== metagraph";         sn27 metagraph
echo
echo "demo state kept in $demo"
