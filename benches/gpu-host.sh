#!/usr/bin/env bash
# The GPU half of sn27 on one host with an NVIDIA GPU, python3 with torch, and neither Docker
# nor network: writes one JSON document of figures and exits non-zero if any step failed.
#
#   benches/gpu-host.sh [SN27_BINARY [PYTHON [OUT_JSON]]]
#     defaults: target/release/sn27, python3, gpu-host.json
#
# Steps (each recorded with its exit status, its JSON and, when it failed, its error):
#   check      `sn27 check --json` on the built-in defaults: NVML loaded, driver, every GPU's
#              name, UUID and memory;
#   bench-1..3 `sn27 bench --json` three times: FP16/FP32 TFLOPS, VRAM, the compute step, and
#              the model identified against the default table (must be the same every time);
#   bench-v2   the same against the sn27-v2.2.1 table;
#   worker     `sn27 bench --local --json`: our worker in GPU mode (gpu_info, benchmark,
#              compute at the Proof-of-GPU size for this GPU's VRAM, proof) run and verified by
#              the validator's own steps, on a local shell instead of SSH;
#   gemm       torch's matmul on the same GPU at the sizes `sn27 bench` used, timed the same
#              way (one product between two synchronisations, no warm-up), against the cudarc
#              times of bench-1: the ratio cudarc ÷ torch per precision.
# Without a GPU every step fails with its own named error (the test suite runs it that way,
# with a stand-in torch, and checks each error).
set -uo pipefail
cd "$(dirname "$0")/.."
sn27=${1:-target/release/sn27}
python=${2:-python3}
out=${3:-gpu-host.json}
work=$(mktemp -d -t sn27-gpu-host.XXXXXX)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

# run NAME COMMAND...: the command's stdout to NAME.json, stderr to NAME.err, status to
# NAME.rc, its wall seconds to NAME.secs.
run() {
  local name=$1 t0 t1
  shift
  echo "== $name: $*" >&2
  t0=$(date +%s.%N)
  "$@" >"$work/$name.json" 2>"$work/$name.err"
  echo $? >"$work/$name.rc"
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}' >"$work/$name.secs"
  tail -n 3 "$work/$name.err" >&2
}

# Every step runs on the built-in defaults (the host's /etc/sn27/sn27.toml, if any, aside
# from the scoring profile of bench-v2): what a fresh GPU host gets.
defaults=(env -u SN27_CONFIG)

run check "${defaults[@]}" "$sn27" check --json
for k in 1 2 3; do
  run "bench-$k" "${defaults[@]}" "$sn27" bench --json
done
run bench-v2 "${defaults[@]}" SN27_SCORING__PROFILE=sn27-v2.2.1 "$sn27" bench --json
run worker "${defaults[@]}" "$sn27" bench --local --python "$python" --json

# torch at bench-1's sizes (its size16/size32 for GPU 0).
run gemm "$python" - "$work/bench-1.json" <<'EOF'
import json, sys, time
try:
    bench = json.load(open(sys.argv[1]))["gpus"][0]
    sizes = {"fp16": bench["size16"], "fp32": bench["size32"]}
except (ValueError, KeyError, IndexError, TypeError):
    print(json.dumps({"error": "sn27 bench measured nothing to compare with"}))
    sys.exit(1)
import torch
if not torch.cuda.is_available():
    print(json.dumps({"error": "torch sees no CUDA device"}))
    sys.exit(1)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
for precision, dtype in (("fp16", torch.float16), ("fp32", torch.float32)):
    side = sizes[precision]
    a = torch.randn(side, side, dtype=dtype, device="cuda")
    b = torch.randn(side, side, dtype=dtype, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    torch.matmul(a, b)
    torch.cuda.synchronize()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        torch.cuda.synchronize()
        warm.append(time.perf_counter() - t0)
    warm.sort()
    del a, b
    torch.cuda.empty_cache()
    ours = bench["t16" if precision == "fp16" else "t32"]
    result[precision] = {
        "side": side,
        "cudarc_secs": ours,
        "torch_cold_secs": cold,
        "torch_warm_median_secs": warm[2],
        "cudarc_over_torch_cold": ours / cold,
    }
print(json.dumps(result))
EOF

# One document: every step's status, JSON (or its text) and error, and the verdicts.
"$python" - "$work" "$out" "$(( $(date +%s) - started ))" <<'EOF'
import json, os, sys
work, out, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
steps = {}
for name in ["check", "bench-1", "bench-2", "bench-3", "bench-v2", "worker", "gemm"]:
    read = lambda ext: open(os.path.join(work, f"{name}.{ext}")).read()
    text = read("json")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    rc = int(read("rc"))
    error = None
    if isinstance(doc, dict):
        error = doc.get("error")
        if error is None and name == "check":
            failed = [c for c in doc.get("checks", []) if c["check"] in ("gpus", "cuda") and c["verdict"] != "ok"]
            error = "; ".join(f"{c['check']}: {c['detail']}" for c in failed) or None
    ok = rc == 0 and error is None
    if name == "check":
        gpus = [c for c in (doc or {}).get("checks", []) if c["check"] in ("gpus", "cuda")]
        ok = bool(gpus) and all(c["verdict"] == "ok" for c in gpus)
    if not ok and error is None:
        if isinstance(doc, dict) and doc.get("step"):
            error = f"{doc['step']}: {doc.get('error')}"
        else:
            said = read("err").strip().splitlines()
            error = said[-1] if said else f"exit status {rc}"
    steps[name] = {"ok": ok, "exit": rc, "secs": float(read("secs")), "output": doc if doc is not None else text, "error": error}
def identified_by(name):
    doc = steps[name]["output"]
    return doc.get("identified") if isinstance(doc, dict) else None
identified = [identified_by(f"bench-{k}") for k in (1, 2, 3)]
stable = identified[0] is not None and len(set(identified)) == 1
report = {
    "total_secs": total,
    "ok": all(s["ok"] for s in steps.values()) and stable,
    "identified_default": identified,
    "identification_stable": stable,
    "steps": steps,
}
with open(out, "w") as f:
    json.dump(report, f, indent=2)
for name, s in steps.items():
    print(f"{name:9} {'ok  ' if s['ok'] else 'FAIL'} {s['secs']:7.2f} s  {s['error'] or ''}", file=sys.stderr)
print(f"identified (default table): {identified}; written to {out}", file=sys.stderr)
sys.exit(0 if report["ok"] else 1)
EOF
