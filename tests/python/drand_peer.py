"""bittensor-drand (the Python SDK's timelock library) as a test peer.

  drand_peer.py decrypt <hex> <round> <signature-hex>
      open a raw ciphertext (the bytes a commit carries) with a beacon signature;
      print {"plain": hex}
  drand_peer.py encrypt <hex> <round>
      encrypt for a round; print {"raw": hex} (the ciphertext alone, without the
      length prefix and round that encrypt_at_round wraps it in)
  drand_peer.py commit <json>
      get_encrypted_commit_v2 for each state in the JSON list; print
      {"before": unix time, "after": unix time, "commits": [{"commit": hex, "round": n}]}
"""

import json
import sys
import time

import bittensor_drand as drand


def compact(n):
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    return ((n << 2) | 2).to_bytes(4, "little")


def unwrap(blob, round_number):
    """encrypt_at_round returns compact(len) ‖ ciphertext ‖ round (u64 LE)."""
    assert blob[-8:] == round_number.to_bytes(8, "little"), "round suffix"
    body = blob[:-8]
    if body[0] & 3 == 0:
        return body[1:]
    if body[0] & 3 == 1:
        return body[2:]
    return body[4:]


def main():
    command = sys.argv[1]
    if command == "decrypt":
        raw, round_number, signature = bytes.fromhex(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        blob = compact(len(raw)) + raw + round_number.to_bytes(8, "little")
        print(json.dumps({"plain": drand.decrypt_with_signature(blob, signature).hex()}))
    elif command == "encrypt":
        data, round_number = bytes.fromhex(sys.argv[2]), int(sys.argv[3])
        blob, _ = drand.encrypt_at_round(data, round_number)
        print(json.dumps({"raw": unwrap(blob, round_number).hex()}))
    elif command == "commit":
        states = json.loads(sys.argv[2])
        before = time.time()
        commits = []
        for s in states:
            commit, round_number = drand.get_encrypted_commit_v2(
                uids=s["uids"],
                weights=s["values"],
                version_key=s["version_key"],
                last_epoch_block=s["last_epoch_block"],
                pending_epoch_at=s["pending_epoch_at"],
                subnet_epoch_index=s["epoch_index"],
                tempo=s["tempo"],
                blocks_since_last_step=s["blocks_since_last_step"],
                current_block=s["block"],
                subnet_reveal_period_epochs=s["reveal_period"],
                block_time=s["block_time"],
                hotkey=bytes.fromhex(s["hotkey"]),
            )
            commits.append({"commit": commit.hex(), "round": round_number})
        after = time.time()
        print(json.dumps({"before": before, "after": after, "commits": commits}))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
