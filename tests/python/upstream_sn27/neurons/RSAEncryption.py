"""SN27 v2.2.1's `encrypt_data`: RSA-OAEP with SHA-256 (MGF1 SHA-256, no label)."""

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def encrypt_data(public_key_pem: bytes, plaintext: str) -> bytes:
    key = serialization.load_pem_public_key(public_key_pem)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return key.encrypt(plaintext.encode(), oaep)
