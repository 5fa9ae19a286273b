#!/usr/bin/env python3
"""Independent numpy oracle for the Rust `pog` crate (used by tests/oracle.rs).

Written from sn27-protocol 6.4-6.5 separately from the crate and from the worker: every
element is computed directly on a full uint64 index grid with explicit 0xFFFFFFFF masking
(no row + col shortcut), the validator conversion divides in float64 like the reference
validator, and the miner conversion divides a float32 by float32(0xFFFFFFFF) like the
reference script.

Request (stdin, JSON):
  {"elements": [[seed, i, j], ...],
   "matrices": [{"seed_a": s, "seed_b": s, "n": n, "rows": [i, ...]}, ...],
   "values":   [[seed_a, seed_b, i, j, n], ...]}
Response (stdout, JSON):
  {"elements": [{"bits": x, "validator": f32 bits, "miner": f32 bits}, ...],
   "matrices": [{"a_hex": A bytes, "b_hex": B bytes, "c_hex": C bytes,
                 "root": hex, "proofs": [[hex, ...] per requested row]}, ...],
   "values":   [{"value_bits": f64 bits, "value": v}, ...]}
A and B use the validator conversion; C = A @ B in numpy float32; all matrices as
little-endian float32 row-major bytes. A value is the float64 dot product of the float32
row of A and column of B.
"""

import hashlib
import json
import sys

import numpy as np

M = np.uint64(0xFFFFFFFF)


def xorshift(seed, rows, cols):
    """PRNG output for broadcastable uint64 index arrays `rows`, `cols`."""
    s = np.uint64(int(seed) & 0xFFFFFFFF)
    x = (s + (rows & M) + (cols & M)) & M
    for _ in range(10):
        x = x ^ ((x << np.uint64(13)) & M)
        x = x ^ ((x >> np.uint64(17)) & M)
        x = x ^ ((x << np.uint64(5)) & M)
    return x & M


def to_validator(x):
    return (x.astype(np.float64) / 4294967295.0).astype(np.float32)


def to_miner(x):
    return x.astype(np.float64).astype(np.float32) / np.float32(float(0xFFFFFFFF))


def matrix(seed, n):
    idx = np.arange(n, dtype=np.uint64)
    return to_validator(xorshift(seed, idx[:, None], idx[None, :]))


def merkle(c):
    n = c.shape[0]
    levels = [[hashlib.sha256(c[r].astype("<f4").tobytes()).digest() for r in range(n)]]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = []
        for k in range(0, len(cur), 2):
            right = cur[k + 1] if k + 1 < len(cur) else cur[k]
            nxt.append(hashlib.sha256(cur[k] + right).digest())
        levels.append(nxt)
    return levels


def proof(levels, index):
    out = []
    idx = index
    for level in levels[:-1]:
        sib = idx ^ 1
        out.append((level[sib] if sib < len(level) else level[idx]).hex())
        idx //= 2
    return out


def f32_bits(v):
    return int(np.asarray(v, dtype=np.float32).view(np.uint32))


def main():
    req = json.load(sys.stdin)
    out = {"elements": [], "matrices": [], "values": []}
    for seed, i, j in req.get("elements", []):
        x = xorshift(seed, np.array([i], dtype=np.uint64), np.array([j], dtype=np.uint64))
        out["elements"].append({
            "bits": int(x[0]),
            "validator": f32_bits(to_validator(x)[0]),
            "miner": f32_bits(to_miner(x)[0]),
        })
    for m in req.get("matrices", []):
        n = int(m["n"])
        a = matrix(m["seed_a"], n)
        b = matrix(m["seed_b"], n)
        c = np.matmul(a, b).astype(np.float32)
        levels = merkle(c)
        out["matrices"].append({
            "a_hex": a.astype("<f4").tobytes().hex(),
            "b_hex": b.astype("<f4").tobytes().hex(),
            "c_hex": c.astype("<f4").tobytes().hex(),
            "root": levels[-1][0].hex(),
            "proofs": [proof(levels, int(r)) for r in m.get("rows", [])],
        })
    for sa, sb, i, j, n in req.get("values", []):
        idx = np.arange(int(n), dtype=np.uint64)
        row = to_validator(xorshift(sa, np.uint64(i), idx))
        col = to_validator(xorshift(sb, idx, np.uint64(j)))
        v = float(np.dot(row.astype(np.float64), col.astype(np.float64)))
        out["values"].append({
            "value_bits": int(np.array([v], dtype=np.float64).view(np.uint64)[0]),
            "value": v,
        })
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
