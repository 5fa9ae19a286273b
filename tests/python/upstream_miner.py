"""SN27 v2.2.1's miner, its allocation code as it runs, as a peer for sn27's validator
(tests/engine/upstream_miner.rs).

  upstream_miner.py <wallets> <wallet> <axon_port> <ssh_port> <external_ports> <workdir> <metagraph command...>

Serves a bittensor 10.5 Axon with SN27's `Allocate` synapse until stdin closes or it is
killed. The forward, blacklist and priority functions are those of SN27
v2.2.1's `neurons/miner.py` (`Miner.allocate`, `base_blacklist`, `base_priority`,
`get_updated_validator`), reimplemented below: the Miner class cannot be built without a
subtensor node, W&B and a GPU. They call the modules `compute` and `neurons` (the allocation
engine: `neurons/Miner/allocate.py`, `container.py`, `schedule.py`, `neurons/RSAEncryption.py`)
from the directory in SN27_TEST_UPSTREAM_SN27 when it is set (upstream's own files extracted
at commit f052081), else from `tests/python/upstream_sn27/` (their reimplementation; see its
README). The working directory is <workdir>: upstream keeps `allocation_key` and
`tmp/dockerfile` there.

What cannot run here is patched, the same way whichever modules run:
 1. `ssh-image-base` is built by the test from the Debian test base image
    (`upstream_sn27/ssh-image-base.Dockerfile`): no registry serves upstream's pytorch base.
 2. No GPU: the `gpu` device request is dropped when the container is created (the engine
    refuses it without the NVIDIA runtime); everything else about the container is upstream's.
 3. No `at` daemon: `schedule.start`, the `at` job that kills the container when the lease
    ends, is not run (a validator's test releases its container itself).
 4. No subtensor node the SDK can sync from: the metagraph (hotkeys, total stake, prometheus
    versions) is read by running <metagraph command...> (`sn27 metagraph --json` on the
    devnet), once before serving and then at most every 2 s (upstream resyncs about every
    5 s); the version whitelist is recomputed from it at each request (upstream: every 30
    blocks, from `neuron_for_uid`, allowing everyone until the first time).
 5. No GitHub: `get_remote_version("__minimal_validator_version__")` is the local constant
    (2.2.1, what upstream main said at v2.2.1), so the validators' version gate is live.
    With one staked validator the gate cannot refuse it here: it is exercised, not tested.
 6. No network: the SDK's external-IP lookup is a documentation address (never contacted).

Where this peer is kinder or narrower than a running upstream miner (parts of `Miner` left
out, not patches):
 - the axon is the SDK's, not `ComputeSubnetAxon`, whose `preprocess` stamps the answer's
   `axon.version` 221 and a `monotonic_ns` nonce; our dendrite reads neither;
 - only `Allocate` is attached (upstream also serves `Challenge`);
 - no W&B: `update_allocation` (the `allocated` mark in the miner's W&B run) is not called,
   and the main loop's `__check_alloaction_errors`, which every 75 blocks deregisters any
   allocation no validator's W&B run lists (Proof-of-GPU test allocations included), does
   not run, so a real v2.2.1 miner may remove a test container mid-test where this one does
   not;
 - docker-py 7.1.0 instead of upstream's 7.0.0 pin (7.0.0 cannot talk to the engine with
   the requests release bittensor 10.5 needs).
"""

import json
import os
import subprocess
import sys
import threading
import time
import typing

import bittensor as bt
import bittensor.utils.networking as networking
import docker.models.containers
import requests

networking.get_external_ip = lambda: "192.0.2.1"

UPSTREAM = os.path.abspath(
    os.environ.get("SN27_TEST_UPSTREAM_SN27")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "upstream_sn27")
)
sys.path.insert(0, UPSTREAM)

import compute  # noqa: E402
import neurons.Miner.allocate as allocate_module  # noqa: E402
import neurons.Miner.container as container_module  # noqa: E402
from compute.protocol import Allocate  # noqa: E402
from compute.utils.exceptions import make_error_response  # noqa: E402

# Patch 2: no GPU.
_run = docker.models.containers.ContainerCollection.run


def _run_without_gpu(self, *args, **kwargs):
    kwargs.pop("device_requests", None)
    return _run(self, *args, **kwargs)


docker.models.containers.ContainerCollection.run = _run_without_gpu

# Patch 3: no `at` daemon.
allocate_module.start = lambda timeline: None


class Metagraph:
    """Patch 4: what the miner's metagraph holds, read from the devnet."""

    def __init__(self, command):
        self.command = command
        self.read_at = 0.0
        self.neurons = []
        self.lock = threading.Lock()

    def sync(self):
        with self.lock:
            if time.monotonic() - self.read_at < 2.0:
                return
            # sn27 reads SN27_* variables as configuration; the tests' own are not.
            env = {k: v for k, v in os.environ.items() if not k.startswith("SN27_")}
            out = subprocess.run(self.command, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                # As upstream's resync: a failed one keeps the metagraph it had.
                bt.logging.warning(f"metagraph sync failed: {out.stderr.strip()}")
                return
            self.neurons = json.loads(out.stdout)["neurons"]
            self.read_at = time.monotonic()

    @property
    def hotkeys(self):
        return [n["hotkey"] for n in self.neurons]

    def stake(self, index):
        return self.neurons[index]["total_stake"] / 1e9


class UpstreamMiner:
    """The parts of SN27 v2.2.1's `Miner` the axon calls."""

    def __init__(self, ssh_port, external_ports, metagraph):
        self.ssh_port = ssh_port
        self.external_ports = external_ports
        self.metagraph = metagraph
        self.allocate_action = False
        self.blacklist_hotkeys = set()
        # --blacklist.exploiters is on by default (and cannot be turned off).
        self.exploiters_hotkeys_set = set(compute.SUSPECTED_EXPLOITERS_HOTKEYS)
        self.miner_whitelist_not_enough_stake = False
        self.miner_whitelist_updated_threshold = 20
        self.whitelist_hotkeys_version = set()

    def get_updated_validator(self):
        """Callers whose prometheus version is at least the minimum validator version, once
        more than the threshold's share of validators (stake above the permit) run it."""
        self.whitelist_hotkeys_version.clear()
        latest = _version2number(compute.__minimal_validator_version__)  # patch 5
        valid = [
            (n["hotkey"], n["prometheus"]["version"])
            for n in self.metagraph.neurons
            if n["total_stake"] / 1e9 > compute.validator_permit_stake
        ]
        updated = [hotkey for hotkey, version in valid if version >= latest]
        if valid and 100.0 * len(updated) / len(valid) > self.miner_whitelist_updated_threshold:
            self.whitelist_hotkeys_version.update(updated)

    def base_blacklist(self, synapse):
        self.metagraph.sync()
        self.get_updated_validator()
        hotkey = synapse.dendrite.hotkey
        synapse_type = type(synapse).__name__
        if hotkey not in self.metagraph.hotkeys:
            return True, "Unrecognized hotkey"
        stake = self.metagraph.stake(self.metagraph.hotkeys.index(hotkey))
        if stake < compute.validator_permit_stake and not self.miner_whitelist_not_enough_stake:
            return True, "Not enough stake!"
        if self.blacklist_hotkeys and hotkey in self.blacklist_hotkeys:
            return True, "Blocked hotkey"
        if self.whitelist_hotkeys_version and hotkey not in self.whitelist_hotkeys_version:
            return True, f"Blocked an {synapse_type} request from a non-updated hotkey: {hotkey}"
        if hotkey in self.exploiters_hotkeys_set:
            return True, f"Blacklisted an {synapse_type} request from an exploiter hotkey: {hotkey}"
        return False, "Hotkey recognized!"

    def base_priority(self, synapse):
        index = self.metagraph.hotkeys.index(synapse.dendrite.hotkey)
        return float(self.metagraph.stake(index))

    def blacklist_allocate(self, synapse: Allocate) -> typing.Tuple[bool, str]:
        return self.base_blacklist(synapse)

    def priority_allocate(self, synapse: Allocate) -> float:
        return self.base_priority(synapse) + compute.miner_priority_allocate

    def allocate(self, synapse: Allocate) -> Allocate:
        timeline = synapse.timeline
        device_requirement = synapse.device_requirement
        docker_requirement = synapse.docker_requirement
        docker_requirement["ssh_port"] = self.ssh_port
        docker_requirement["external_ports"] = {"ssh": self.ssh_port}
        internal_ports = [27015, 27016, 27017, 27018]
        docker_requirement["external_user_ports"] = {
            internal: external for internal, external in zip(internal_ports, self.external_ports)
        }
        public_key = synapse.public_key
        if synapse.checking is True:
            if timeline > 0:
                synapse.output = allocate_module.check_allocation(timeline, device_requirement)
            else:
                synapse.output = allocate_module.check_if_allocated(public_key=public_key)
        elif synapse.docker_change is True:
            action = synapse.docker_action["action"]
            if action == "exchange_key":
                synapse.output = container_module.exchange_key_container(
                    synapse.docker_action["ssh_key"], public_key, synapse.docker_action["key_type"]
                )
            elif action == "restart":
                synapse.output = container_module.restart_container(public_key)
            elif action == "pause":
                synapse.output = container_module.pause_container(public_key)
            elif action in ("unpause", "resume"):
                synapse.output = container_module.unpause_container(public_key)
            else:
                bt.logging.info(f"Unknown action: {action}")
        elif timeline > 0:
            if self.allocate_action is False:
                self.allocate_action = True
                result = allocate_module.register_allocation(
                    timeline, device_requirement, public_key, docker_requirement
                )
                self.allocate_action = False
                synapse.output = result
            else:
                synapse.output = make_error_response(
                    "Allocation is already in progress. Please wait for the previous one to finish",
                    status=False,
                )
        else:
            synapse.output = allocate_module.deregister_allocation(public_key)
        synapse.output["port"] = self.ssh_port
        return synapse


def _version2number(version):
    major, minor, patch = (int(part) for part in version.split("."))
    return 100 * major + 10 * minor + patch


def main(wallets, name, axon_port, ssh_port, external_ports, workdir, *metagraph_command):
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    bt.logging.set_debug(True)
    wallet = bt.Wallet(name=name, hotkey="default", path=wallets)
    miner = UpstreamMiner(
        int(ssh_port),
        [int(p) for p in external_ports.split(",")],
        Metagraph(list(metagraph_command)),
    )
    for _ in range(50):
        miner.metagraph.sync()
        if miner.metagraph.neurons:
            break
        time.sleep(0.2)
    else:
        sys.exit("the metagraph could not be read")
    axon = bt.Axon(wallet=wallet, port=int(axon_port), ip="127.0.0.1", external_ip="127.0.0.1")
    axon.attach(
        forward_fn=miner.allocate,
        blacklist_fn=miner.blacklist_allocate,
        priority_fn=miner.priority_allocate,
    )
    axon.start()
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{axon_port}/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    print(
        json.dumps(
            {
                "hotkey": wallet.hotkey.ss58_address,
                "modules": [os.path.abspath(compute.__file__), os.path.abspath(container_module.__file__)],
            }
        ),
        flush=True,
    )
    sys.stdin.read()  # until stdin closes (or the test kills us)
    axon.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
