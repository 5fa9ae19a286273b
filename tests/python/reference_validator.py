"""The SN27 v1.8.3 validator's Proof-of-GPU allocation sequence against one miner, with the
Python SDK (bittensor 10.5 Dendrite), `cryptography` for the credentials and paramiko for SSH
(neurons/validator.py::test_miner_gpu, neurons/RSAEncryption.py):

  check (timeline=1, checking=True) → allocate (the PoG device_requirement) → decrypt →
  SSH login with the password → run a command → deallocate → check again

  reference_validator.py <wallets dir> <wallet name> <host> <axon port> <miner hotkey>
      print {"steps": [...], "ok": bool}
"""

import asyncio
import base64
import json
import sys

import bittensor as bt
import paramiko
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# The SN27 synapse class (and the SDK's external-IP lookup replaced, no network here).
from wire_peer import Allocate  # noqa: E402

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


async def main():
    root, name, host, port, miner = sys.argv[1:6]
    wallet = bt.Wallet(name=name, hotkey="default", path=root)
    dendrite = bt.Dendrite(wallet=wallet)
    axon = bt.AxonInfo(version=183, ip=host, port=int(port), ip_type=4, hotkey=miner, coldkey=miner)
    steps = []

    async def call(synapse, timeout):
        response = await dendrite(axon, synapse, timeout=timeout, deserialize=True)
        return response

    checked = await call(Allocate(timeline=1, checking=True), 30)
    steps.append({"step": "check", "output": checked})
    if checked.get("status") is not True:
        return {"steps": steps, "ok": False}

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    device = {"cpu": {"count": 1}, "gpu": {"count": 1, "capacity": 0, "type": ""},
              "hard_disk": {"capacity": 1073741824}, "ram": {"capacity": 1073741824}, "testing": True}
    allocated = await call(Allocate(timeline=1, device_requirement=device, checking=False, public_key=public,
                                    docker_requirement={"base_image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"}), 60)
    steps.append({"step": "allocate", "status": allocated.get("status"), "port": allocated.get("port")})
    if allocated.get("status") is not True:
        return {"steps": steps, "ok": False}

    info = json.loads(key.decrypt(base64.b64decode(allocated["info"]), OAEP))
    steps.append({"step": "decrypt", "username": info["username"], "port": info["port"], "version": info["version"]})

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, port=info["port"], username=info["username"], password=info["password"], timeout=10)
    _, stdout, stderr = client.exec_command("echo '1 2 3' > /tmp/seeds.txt && cat /tmp/seeds.txt", timeout=30)
    out, err = stdout.read().decode(), stderr.read().decode()
    sftp = client.open_sftp()
    with sftp.file("/tmp/miner_script.py", "w") as f:
        f.write("print('hello')\n")
    size = sftp.stat("/tmp/miner_script.py").st_size
    sftp.close()
    client.close()
    steps.append({"step": "ssh", "stdout": out, "stderr": err, "sftp_size": size})

    released = await call(Allocate(timeline=0, checking=False, public_key=public), 30)
    steps.append({"step": "deallocate", "output": released})
    again = await call(Allocate(timeline=1, checking=True), 30)
    steps.append({"step": "check-again", "output": again})
    ok = (released.get("status") is True and again.get("status") is True and out.strip() == "1 2 3"
          and err.strip() == "" and size == 15)
    return {"steps": steps, "ok": ok}


if __name__ == "__main__":
    result = asyncio.run(main())
    print(json.dumps(result))
