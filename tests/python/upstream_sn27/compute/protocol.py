"""SN27 v2.2.1's `Allocate` synapse (`compute/protocol.py`): its fields and their defaults."""

import bittensor as bt


class Allocate(bt.Synapse):
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
        "external_ports": {},
        "external_user_ports": {},
    }
    docker_change: bool = False
    docker_action: dict = {"action": "", "ssh_key": "", "key_type": ""}

    def deserialize(self) -> dict:
        return self.output
