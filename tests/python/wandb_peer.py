"""SN27 v2.2.1's W&B behaviour (compute/wandb/wandb.py, class ComputeWandb) as a command line.

Every sub-command prints one JSON object on stdout; on error the message goes to stderr and the
exit status is 1. The server and key come from WANDB_BASE_URL and WANDB_API_KEY.

    publish --role miner|validator --mnemonic "<words>" --netuid N [--specs JSON]
            [--penalized JSON-list] [--leave-running]
        wandb.init(name="<role>-<hotkey>"), the config updates, the hotkey's signature of
        sha256(run id), one logged metric, then run.finish(). With --leave-running the finished
        run is then resumed (wandb.init(id=..., resume="allow"), as the reference does) and,
        once the server shows it running, the W&B service is killed and the process exits:
        no completion is ever sent, so the run stays "running" until the server's staleness
        limit.
    miner-specs --netuid N --hotkeys a,b,c
        The validator's get_miner_specs: running miner runs of the netuid, signature checked.
    penalties --run-id ID
        The validator's get_penalized_hotkeys_checklist for one run.
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import time

ENTITY = "neuralinternet"
PROJECT = "opencompute"
VERSION = 221


def sign_run(run, keypair):
    """The run's signature: the hotkey signs sha256 of the run id."""
    data_hash = hashlib.sha256(run.id.encode()).digest()
    signature = keypair.sign(data_hash).hex()
    run.config.update({"signature": signature}, allow_val_change=True)
    run.log({"dummy_metric": 0})
    return signature


def verify_run(run):
    from bittensor_wallet import Keypair

    hotkey = run.config.get("hotkey")
    signature = run.config.get("signature")
    data_hash = hashlib.sha256(run.id.encode()).digest()
    if hotkey and signature:
        try:
            return bool(Keypair(ss58_address=hotkey).verify(data_hash, bytes.fromhex(signature)))
        except Exception:
            return False
    return False


def wait_for_running(run_id, signature, timeout):
    """Polls the public API until the server shows the run running with the signed config."""
    import wandb

    api = wandb.Api()
    deadline = time.monotonic() + timeout
    while True:
        api.flush()
        try:
            run = api.run(f"{ENTITY}/{PROJECT}/{run_id}")
            if run.state == "running" and run.config.get("signature") == signature:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server never showed run {run_id} running with its signature")
        time.sleep(0.2)


def kill_children():
    """SIGKILLs this process's descendants (the wandb-core service and its helpers)."""
    import psutil

    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            child.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass


def cmd_publish(args):
    import wandb
    from bittensor_wallet import Keypair

    keypair = Keypair.create_from_mnemonic(args.mnemonic)
    hotkey = keypair.ss58_address
    name = f"{args.role}-{hotkey}"
    run = wandb.init(project=PROJECT, entity=ENTITY, name=name)
    update = {
        "hotkey": hotkey,
        "role": args.role,
        "config": {"netuid": args.netuid},
        "version": VERSION,
    }
    run.config.update(update, allow_val_change=True)
    if args.role == "miner":
        specs = json.loads(args.specs) if args.specs else {}
        run.config.update({"specs": specs}, allow_val_change=True)
    if args.role == "validator" and args.penalized is not None:
        penalized = json.loads(args.penalized)
        if not isinstance(penalized, list):
            raise ValueError("--penalized must be a JSON list")
        run.config.update({"penalized_hotkeys_checklist": penalized}, allow_val_change=True)
    signature = sign_run(run, keypair)
    result = {"run_id": run.id, "hotkey": hotkey, "display_name": name}
    run.finish()
    if args.leave_running:
        # Resume the run as the reference does after its first init; the server answers the
        # resume upsert before init returns. Killing the service then means no completion and
        # no further heartbeat is ever sent.
        wandb.init(project=PROJECT, entity=ENTITY, id=result["run_id"], resume="allow")
        wait_for_running(result["run_id"], signature, args.timeout)
        kill_children()
        print(json.dumps(result), flush=True)
        sys.stderr.flush()
        os._exit(0)
    return result


def cmd_miner_specs(args):
    import wandb

    valid_hotkeys = [h for h in args.hotkeys.split(",") if h]
    api = wandb.Api()
    api.flush()
    runs = api.runs(
        f"{ENTITY}/{PROJECT}",
        filters={
            "$and": [
                {"config.role": "miner"},
                {"config.config.netuid": args.netuid},
                {"state": "running"},
            ]
        },
    )
    listed = []
    for run in runs:
        hotkey = run.config.get("hotkey")
        specs = run.config.get("specs")
        signature_ok = verify_run(run)
        listed.append(
            {
                "run_id": run.id,
                "hotkey": hotkey,
                "display_name": run.name,
                "state": run.state,
                "specs": specs,
                "allocated": run.config.get("allocated"),
                "signature_ok": signature_ok,
                "accepted": bool(signature_ok and specs and hotkey in valid_hotkeys),
            }
        )
    return {"runs": listed}


def cmd_penalties(args):
    import wandb

    api = wandb.Api()
    api.flush()
    run = api.run(f"{ENTITY}/{PROJECT}/{args.run_id}")
    return {"penalized": run.config.get("penalized_hotkeys_checklist")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    publish = sub.add_parser("publish")
    publish.add_argument("--role", choices=["miner", "validator"], required=True)
    publish.add_argument("--mnemonic", required=True)
    publish.add_argument("--netuid", type=int, required=True)
    publish.add_argument("--specs")
    publish.add_argument("--penalized")
    publish.add_argument("--leave-running", action="store_true")
    publish.add_argument("--timeout", type=float, default=60.0)

    specs = sub.add_parser("miner-specs")
    specs.add_argument("--netuid", type=int, required=True)
    specs.add_argument("--hotkeys", default="")

    penalties = sub.add_parser("penalties")
    penalties.add_argument("--run-id", required=True)

    args = parser.parse_args()
    handlers = {"publish": cmd_publish, "miner-specs": cmd_miner_specs, "penalties": cmd_penalties}
    try:
        result = handlers[args.command](args)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
