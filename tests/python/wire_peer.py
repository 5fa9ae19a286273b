"""bittensor 10.5 Axon and Dendrite as test peers for sn27's wire (tests/wire_python.rs).

  wallets <root> <name>...                    create wallets, print {name: hotkey ss58}
  dendrite <root> <port> <axon_hotkey>        call sn27's axon, print one JSON object of results
  axon <root> <port>                          serve an Allocate-shaped synapse until stdin closes

The machines running the tests have no network: the SDK's external-IP lookup is replaced by a
documentation address (never contacted; it only fills a header).
"""

import json
import sys
import time
import typing

import bittensor as bt
import bittensor.utils.networking as networking
import requests

networking.get_external_ip = lambda: "192.0.2.1"


class Allocate(bt.Synapse):
    """The SN27 class, as neuralinternet/compute-subnet v1.8.3 `compute/protocol.py` defines it."""

    timeline: int = 0
    device_requirement: dict = {}
    checking: bool = True
    output: dict = {}
    public_key: str = ""
    docker_requirement: dict = {
        "base_image": "ubuntu",
        "ssh_key": "",
        "ssh_port": 4444,
        "volume_path": "/tmp",
        "dockerfile": "",
    }
    docker_change: bool = False
    docker_action: dict = {"action": "", "ssh_key": "", "key_type": ""}

    def deserialize(self) -> dict:
        return self.output


class Specs(bt.Synapse):
    """A class sn27's miner must not serve (as reference miners do not)."""

    specs_input: str = ""
    specs_output: str = ""


def wallet(root, name):
    w = bt.Wallet(name=name, hotkey="default", path=root)
    w.create_if_non_existent(coldkey_use_password=False, hotkey_use_password=False)
    return w


def cmd_wallets(root, *names):
    return {name: wallet(root, name).hotkey.ss58_address for name in names}


def post(dendrite, axon, synapse, mutate=None):
    """Sends a synapse the way the dendrite does, with an optional change to its headers."""
    prepared = dendrite.preprocess_synapse_for_request(axon, synapse, timeout=10.0)
    headers = prepared.to_headers()
    if mutate:
        mutate(headers)
    body = prepared.model_dump()
    url = f"http://{axon.ip}:{axon.port}/{prepared.name}"
    return headers, body, url


def send(headers, body, url):
    response = requests.post(url, headers=headers, json=body, timeout=10)
    try:
        message = response.json().get("message")
    except ValueError:
        message = None
    return {"status": response.status_code, "message": message}


def cmd_dendrite(root, port, axon_hotkey):
    axon = bt.AxonInfo(
        version=0, ip="127.0.0.1", port=int(port), ip_type=4, hotkey=axon_hotkey, coldkey=axon_hotkey
    )
    results = {}
    caller = bt.Dendrite(wallet=wallet(root, "caller"))

    # The SDK's own call path, as a validator's check runs it.
    reply = caller.query(axons=[axon], synapse=Allocate(timeline=1, checking=True), timeout=10, deserialize=False)[0]
    results["allocate"] = {
        "status": reply.dendrite.status_code,
        "message": reply.dendrite.status_message,
        "output": reply.output,
        "deserialized": reply.deserialize(),
        "axon_status": reply.axon.status_code,
    }

    def corrupt(headers):
        signature = headers["bt_header_dendrite_signature"]
        flipped = "1" if signature[-1] != "1" else "2"
        headers["bt_header_dendrite_signature"] = signature[:-1] + flipped

    results["corrupted_signature"] = send(*post(caller, axon, Allocate(timeline=1), corrupt))

    replayed = post(caller, axon, Allocate(timeline=1))
    results["first_send"] = send(*replayed)
    results["replay"] = send(*replayed)

    blocked = bt.Dendrite(wallet=wallet(root, "blocked"))
    reply = blocked.query(axons=[axon], synapse=Allocate(timeline=1), timeout=10, deserialize=False)[0]
    results["blacklisted"] = {"status": reply.dendrite.status_code, "message": reply.dendrite.status_message}

    stranger = bt.Dendrite(wallet=wallet(root, "stranger"))
    reply = stranger.query(axons=[axon], synapse=Allocate(timeline=1), timeout=10, deserialize=False)[0]
    results["unregistered"] = {"status": reply.dendrite.status_code, "message": reply.dendrite.status_message}

    reply = caller.query(axons=[axon], synapse=Specs(), timeout=10, deserialize=False)[0]
    results["unknown_synapse"] = {"status": reply.dendrite.status_code, "message": reply.dendrite.status_message}

    reply = caller.query(axons=[axon], synapse=bt.Synapse(), timeout=10, deserialize=False)[0]
    results["ping"] = {"status": reply.dendrite.status_code}
    return results


def cmd_axon(root, port):
    w = wallet(root, "axon")
    seen = {}

    def forward(synapse: Allocate) -> Allocate:
        synapse.output = {
            "timeline": synapse.timeline,
            "checking": synapse.checking,
            "public_key": synapse.public_key,
            "device_requirement": synapse.device_requirement,
            "caller": synapse.dendrite.hotkey,
        }
        seen["last"] = synapse.dendrite.nonce
        return synapse

    axon = bt.Axon(wallet=w, port=int(port), ip="127.0.0.1", external_ip="127.0.0.1")
    axon.attach(forward_fn=forward)
    axon.start()
    # Wait until the server accepts connections before announcing readiness.
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    print(json.dumps({"hotkey": w.hotkey.ss58_address, "port": int(port)}), flush=True)
    sys.stdin.read()  # the test closes stdin to stop us
    axon.stop()
    return {"stopped": True}


COMMANDS: typing.Dict[str, typing.Callable] = {
    "wallets": cmd_wallets,
    "dendrite": cmd_dendrite,
    "axon": cmd_axon,
}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])), flush=True)
