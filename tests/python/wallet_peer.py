"""bittensor-wallet as a test peer: creates, reads, signs and verifies the way btcli does.

Called by tests/wallet_interop.rs; every command prints one JSON object on stdout.
"""

import json
import sys

import bittensor_wallet as bw


def wallet(path, name, hotkey):
    return bw.Wallet(name=name, hotkey=hotkey, path=path)


def cmd_create(path, name, hotkey, password):
    w = wallet(path, name, hotkey)
    w.create_new_coldkey(
        n_words=12, use_password=True, overwrite=False, suppress=True, coldkey_password=password
    )
    w.create_new_hotkey(n_words=12, use_password=False, overwrite=False, suppress=True)
    return {"coldkey": w.coldkeypub.ss58_address, "hotkey": w.hotkey.ss58_address}


def cmd_load(path, name, hotkey, password):
    """Loads every file of a wallet, decrypting the coldkey with the password."""
    w = wallet(path, name, hotkey)
    coldkey = w.coldkey_file.get_keypair(password=password)
    return {
        "coldkey": coldkey.ss58_address,
        "coldkeypub": w.coldkeypub.ss58_address,
        "hotkey": w.hotkey.ss58_address,
        "hotkeypub": w.hotkeypub.ss58_address,
    }


def cmd_sign(path, name, hotkey, which, message_hex, password):
    w = wallet(path, name, hotkey)
    if which == "coldkey":
        key = w.coldkey_file.get_keypair(password=password)
    else:
        key = w.hotkey
    signature = key.sign(bytes.fromhex(message_hex))
    return {"ss58": key.ss58_address, "signature": "0x" + bytes(signature).hex()}


def cmd_verify(ss58, message_hex, signature_hex):
    key = bw.Keypair(ss58_address=ss58)
    signature = bytes.fromhex(signature_hex.removeprefix("0x"))
    return {"valid": bool(key.verify(bytes.fromhex(message_hex), signature))}


def cmd_mnemonic(*words):
    key = bw.Keypair.create_from_mnemonic(" ".join(words))
    return {"ss58": key.ss58_address, "public_key": "0x" + bytes(key.public_key).hex()}


COMMANDS = {
    "create": cmd_create,
    "load": cmd_load,
    "sign": cmd_sign,
    "verify": cmd_verify,
    "mnemonic": cmd_mnemonic,
}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
