#!/usr/bin/env bash
# Allocation timing on the real Docker engine: one `sn27 run` miner on a local devnet, and the
# SN27 v2.2.1 validator's rental sequence (tests/python/reference_validator_v2.py: allocate
# with no checking probe, decrypt, SSH, the health check of the four user ports, deallocate)
# repeated N times against it. Prints every run's allocate and deallocate times, then the
# median and the maximum of each against the v2.2.1 validator's timeouts (allocate 60 s,
# deallocate 15 s).
#
#   benches/allocation.sh [N]        (default N = 10)
#
# Needs what the engine tests need: a Docker engine with the test base image
# (tests/setup-docker.sh) and the pinned Python peers (tests/setup-python.sh). Environment:
# SN27_TEST_BASE_IMAGE (default sn27-test-base:bookworm-py), SN27_TEST_PYTHON (default
# target/test-venv/bin/python), SN27_BIN (default: target/release/sn27, built here if absent).
# Everything it creates (the devnet, wallets, the miner's containers) is removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
image=${SN27_TEST_BASE_IMAGE:-sn27-test-base:bookworm-py}
python=${SN27_TEST_PYTHON:-$root/target/test-venv/bin/python}
bin=${SN27_BIN:-$root/target/release/sn27}

if [ -z "${SN27_BIN:-}" ] && [ ! -x "$bin" ]; then
  echo "building $bin..." >&2
  (cd "$root" && cargo build --release --bin sn27 >&2)
fi
docker image inspect "$image" >/dev/null 2>&1 ||
  { echo "no Docker engine with $image: run tests/setup-docker.sh" >&2; exit 1; }
[ -x "$python" ] || { echo "no Python peers at $python: run tests/setup-python.sh" >&2; exit 1; }

dir=$(mktemp -d -t sn27-allocation.XXXXXX)
miner_pid=
hotkey=
cleanup() {
  if [ -n "$miner_pid" ]; then
    kill -TERM "$miner_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$miner_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$miner_pid" 2>/dev/null || true
  fi
  if [ -n "$hotkey" ]; then
    docker ps -aq --filter "label=sn27.miner=$hotkey" | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

# Six distinct free ports below the ephemeral range (axon, SSH, four user ports), as the
# engine tests take them, so no outgoing connection takes one before a container publishes it.
read -r axon_port ssh_port u1 u2 u3 u4 < <("$python" - <<'EOF'
import random, socket
ports = []
while len(ports) < 6:
    p = random.randrange(20000, 30000)
    if p in ports:
        continue
    try:
        for family, host in ((socket.AF_INET, "0.0.0.0"),):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, p))
            s.close()
        ports.append(p)
    except OSError:
        pass
print(*ports)
EOF
)

common() { # role, wallet name
  printf 'role = "%s"\nstate_dir = "%s/%s-state"\n[chain]\nnetwork = "devnet"\ndevnet_path = "%s/devnet.sqlite"\n[wallet]\nname = "%s"\npath = "%s/wallets"\n' \
    "$1" "$dir" "$1" "$dir" "$2" "$dir"
}
{
  common miner miner
  cat <<EOF
[axon]
port = $axon_port
external_ip = "127.0.0.1"
[miner]
ssh_port = $ssh_port
user_ports = [$u1, $u2, $u3, $u4]
min_validator_stake = 1000.0
[miner.container]
base_image = "$image"
reserve_cpus = 1
reserve_memory_gb = 0.25
test_lifetime_secs = 3600
[log]
filter = "info"
EOF
} >"$dir/miner.toml"
common validator validator >"$dir/validator.toml"

# Only configuration reaches sn27: SN27_* variables of this shell would be read as keys.
unset_sn27=()
while IFS= read -r name; do unset_sn27+=(-u "$name"); done < <(env | sed -n 's/^\(SN27_[A-Za-z0-9_]*\)=.*/\1/p')
sn27() { env "${unset_sn27[@]}" "$bin" "$@"; }
miner() { sn27 --config "$dir/miner.toml" "$@"; }

miner devnet init --block-time 0.2 >/dev/null
for config in miner validator; do
  sn27 --config "$dir/$config.toml" wallet create --no-password --no-print-mnemonic >/dev/null
done
miner_json=$(miner wallet show --json)
hotkey=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["hotkey"])' <<<"$miner_json")
coldkey=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["coldkey"])' <<<"$miner_json")
validator=$(sn27 --config "$dir/validator.toml" wallet show --json |
  "$python" -c 'import json,sys; print(json.load(sys.stdin)["hotkey"])')
miner devnet fund "$coldkey" 5 >/dev/null
miner register --yes >/dev/null
miner devnet register "$validator" --stake 2000 >/dev/null

env "${unset_sn27[@]}" "$bin" --config "$dir/miner.toml" --log-format text run \
  </dev/null >"$dir/miner.log" 2>&1 &
miner_pid=$!
started=$(date +%s)
until "$python" -c "import socket; socket.create_connection(('127.0.0.1', $axon_port), 0.2)" 2>/dev/null; do
  if ! kill -0 "$miner_pid" 2>/dev/null; then
    echo "the miner exited:" >&2; cat "$dir/miner.log" >&2; exit 1
  fi
  if [ $(($(date +%s) - started)) -gt 600 ]; then
    echo "the miner did not start serving:" >&2; cat "$dir/miner.log" >&2; exit 1
  fi
  sleep 0.2
done
echo "miner serving after $(($(date +%s) - started)) s; $runs runs of the v2.2.1 sequence" >&2

results="$dir/results.jsonl"
for run in $(seq 1 "$runs"); do
  # A run that fails (the script raises, prints no result) is counted, not the end of it.
  out=$("$python" "$root/tests/python/reference_validator_v2.py" "$dir/wallets" validator \
    127.0.0.1 "$axon_port" "$hotkey" </dev/null | tail -n 1) || true
  "$python" -c 'import json,sys; json.loads(sys.argv[1])' "$out" 2>/dev/null ||
    out='{"ok": false, "steps": "no result printed"}'
  echo "$out" >>"$results"
  "$python" - "$run" "$out" <<'EOF' >&2
import json, sys
run, r = sys.argv[1], json.loads(sys.argv[2])
if r.get("ok"):
    print(f"run {run}: allocate {r['allocate_secs']:.2f} s, deallocate {r['deallocate_secs']:.2f} s")
else:
    print(f"run {run}: FAILED {json.dumps(r['steps'])}")
EOF
  # The next allocation waits for the container to be gone, as a validator's next round would.
  for _ in $(seq 1 300); do
    [ -z "$(docker ps -aq --filter "label=sn27.miner=$hotkey")" ] && break
    sleep 0.1
  done
done

"$python" - "$results" "$(docker info --format '{{.Driver}}' 2>/dev/null)" "$image" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
good = [r for r in rows if r.get("ok")]
driver, image = sys.argv[2], sys.argv[3]
print(f"{len(good)} of {len(rows)} runs passed the whole sequence; image {image}, storage driver {driver}")
print()
print("| | runs | median | max | v2.2.1 validator's timeout |")
print("|---|---|---|---|---|")
for key, name, limit in (("allocate_secs", "allocate", 60), ("deallocate_secs", "deallocate", 15)):
    xs = [r[key] for r in good]
    if xs:
        print(f"| {name} | {len(xs)} | {statistics.median(xs):.2f} s | {max(xs):.2f} s | {limit} s |")
sys.exit(0 if good and len(good) == len(rows) else 1)
EOF
