"""The SN27 validator's credential encryption (neurons/RSAEncryption.py) as a test peer.

  rsa_peer.py keypair                 print {"private": PKCS#8 PEM, "public": SPKI PEM}
  rsa_peer.py decrypt <private.pem> <blob>   print the decrypted JSON object
  rsa_peer.py encrypt <public.pem> <json>    print {"blob": base64} (a miner's answer)
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def keypair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"private": private.decode(), "public": public.decode()}


def decrypt(private_path, blob):
    key = serialization.load_pem_private_key(open(private_path, "rb").read(), password=None)
    return json.loads(key.decrypt(base64.b64decode(blob), OAEP))


def encrypt(public_path, text):
    key = serialization.load_pem_public_key(open(public_path, "rb").read())
    return {"blob": base64.b64encode(key.encrypt(text.encode(), OAEP)).decode()}


COMMANDS = {"keypair": keypair, "decrypt": decrypt, "encrypt": encrypt}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
