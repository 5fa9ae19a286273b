"""The SN27 v2.2.1 validator's rental sequence against one miner, with the Python SDK
(bittensor 10.5 Dendrite), `cryptography` for the credentials and paramiko for SSH
(sn27-v2.md §2.2, §2.5, §4.5):

  allocate (no checking probe; the PoG device_requirement, timeout 60 s) → decrypt, with
  external_user_ports → SSH, run a command → health check over a new SSH connection (a server
  on every internal user port, readiness from inside, GET on every host port) → deallocate
  (timeout 15 s, up to 3 attempts 5 s apart) → timings

  reference_validator_v2.py <wallets dir> <wallet name> <host> <axon port> <miner hotkey>
      print {"steps": [...], "ok": bool, "allocate_secs": f, "deallocate_secs": f}
"""

import asyncio
import base64
import json
import os
import sys
import time
import urllib.request

import bittensor as bt
import paramiko
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wire_peer import Allocate  # noqa: E402

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "health_check_server.py")


def ssh_client(host, info):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, port=info["port"], username=info["username"], password=info["password"], timeout=10)
    return client


def run(client, command, timeout=30):
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    code = stdout.channel.recv_exit_status()
    return code, stdout.read().decode(), stderr.read().decode()


def health_check(host, info):
    """§4.5; returns (passed, what happened)."""
    ports = {int(k): int(v) for k, v in info.get("external_user_ports", {}).items()}
    client = ssh_client(host, info)
    try:
        sftp = client.open_sftp()
        sftp.put(SERVER, "/tmp/health_check_server.py")
        sftp.chmod("/tmp/health_check_server.py", 0o755)
        sftp.close()
        for inside in ports:
            client.exec_command(
                f"nohup python3 /tmp/health_check_server.py --port {inside} --timeout 60 "
                f"> /tmp/health_check_server_{inside}.log 2>&1 &")
        for inside in ports:
            probe = (f"python3 -c 'import urllib.request; "
                     f"urllib.request.urlopen(\"http://127.0.0.1:{inside}/\", timeout=2)'")
            for _ in range(15):
                if run(client, probe)[0] == 0:
                    break
                time.sleep(1)
            else:
                return False, f"port {inside} never answered inside the container"
        for inside, outside in ports.items():
            for _ in range(15):
                try:
                    with urllib.request.urlopen(f"http://{host}:{outside}/", timeout=2) as r:
                        if r.status == 200 and r.read() == b"Health OK":
                            break
                except Exception:
                    pass
                time.sleep(1)
            else:
                return False, f"host port {outside} (container {inside}) never answered 200"
        for inside in ports:
            run(client, f"kill $(cat /tmp/health_check_server_{inside}.pid)")
        return True, f"{len(ports)} ports answered"
    finally:
        client.close()


async def main():
    root, name, host, port, miner = sys.argv[1:6]
    wallet = bt.Wallet(name=name, hotkey="default", path=root)
    axon = bt.AxonInfo(version=221, ip=host, port=int(port), ip_type=4, hotkey=miner, coldkey=miner)
    steps = []

    async def call(synapse, timeout):
        # A fresh dendrite per call, as the v2 validator makes one.
        dendrite = bt.Dendrite(wallet=wallet)
        try:
            return await dendrite(axon, synapse, timeout=timeout, deserialize=True)
        finally:
            await dendrite.aclose_session()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    device = {"cpu": {"count": 1}, "gpu": {"count": 1, "capacity": 0, "type": ""},
              "hard_disk": {"capacity": 1073741824}, "ram": {"capacity": 1073741824}, "testing": True}
    started = time.monotonic()
    allocated = await call(Allocate(timeline=1, device_requirement=device, checking=False, public_key=public,
                                    docker_requirement={"base_image": "pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime"}),
                           60)
    allocate_secs = time.monotonic() - started
    steps.append({"step": "allocate", "status": allocated.get("status"), "port": allocated.get("port")})
    if not allocated.get("status", False):
        return {"steps": steps, "ok": False}

    info = json.loads(key.decrypt(base64.b64decode(allocated["info"]), OAEP))
    steps.append({"step": "decrypt", "username": info["username"], "port": info["port"],
                  "version": info["version"], "external_user_ports": info.get("external_user_ports")})

    client = ssh_client(host, info)
    code, out, err = run(client, "python3 -c 'print(6 * 7)' && command -v python3")
    client.close()
    steps.append({"step": "ssh", "code": code, "stdout": out, "stderr": err})

    passed, why = health_check(host, info)
    steps.append({"step": "health", "passed": passed, "detail": why})

    deallocate_secs = None
    for attempt in range(3):
        started = time.monotonic()
        released = await call(Allocate(timeline=0, checking=False, public_key=public), 15)
        elapsed = time.monotonic() - started
        steps.append({"step": "deallocate", "attempt": attempt + 1, "output": released, "secs": elapsed})
        if released.get("status") is True:
            deallocate_secs = elapsed
            break
        await asyncio.sleep(5)
    ok = (code == 0 and out.splitlines()[0] == "42" and passed and deallocate_secs is not None
          and len(steps) == 5)
    return {"steps": steps, "ok": ok, "allocate_secs": allocate_secs, "deallocate_secs": deallocate_secs}


if __name__ == "__main__":
    result = asyncio.run(main())
    print(json.dumps(result))
