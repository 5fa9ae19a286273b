#!/usr/bin/env python3
"""Timing baseline: the reference SN27 PoG algorithms in numpy/hashlib (run by benches/pog.rs).

Re-implements, for measurement only, what the reference validator (neurons/Validator/pog.py)
and miner script (neurons/Validator/miner_script_m_merkletree.py) do, at matrix side n:

  value_check_reference   the validator's per-challenge check: row i of A and column j of B
                          built element by element with numpy-scalar xorshift32 in list
                          comprehensions, float32 np.dot, np.isclose;
  value_check_vectorised  the same check with the row and column generated as numpy arrays
                          (a fairer numpy baseline, not what the reference does);
  proof_verify            SHA-256 of the row's bytes, then the fold over a ceil(log2 n)-node
                          proof (15 nodes at n = 20704);
  matrix_generation       one n x n matrix with the script's formula, vectorised numpy int64
                          with 0xFFFFFFFF masking and float32 division by float(0xFFFFFFFF),
                          in row blocks so that host memory stays bounded;
  merkle_build            the script's build_merkle_tree_rows: ThreadPool(8), hashlib per row,
                          pairs per level;
  hashlib_gbps            single-thread hashlib SHA-256 throughput on rows of 4n bytes.

Prints one JSON object with seconds per operation.
"""

import argparse
import hashlib
import json
import os
import time
from multiprocessing.pool import ThreadPool

import numpy as np

MASK = 0xFFFFFFFF


# --- reference validator, element by element -------------------------------------------

def xorshift32_scalar(state):
    x = np.uint64(state) & np.uint64(MASK)
    x ^= np.uint64((x << np.uint64(13)) & np.uint64(MASK))
    x ^= np.uint64((x >> np.uint64(17)) & np.uint64(MASK))
    x ^= np.uint64((x << np.uint64(5)) & np.uint64(MASK))
    return x & np.uint64(MASK)


def prng_value_scalar(s, i, j):
    state = (np.uint64(s) + np.uint64(i % 2**32) + np.uint64(j)) & np.uint64(MASK)
    for _ in range(10):
        state = xorshift32_scalar(state)
    return state / float(MASK)


def value_check_reference(s_a, s_b, i, j, n, miner_value):
    a_row = np.array([prng_value_scalar(s_a, i, c) for c in range(n)], dtype=np.float32)
    b_col = np.array([prng_value_scalar(s_b, r, j) for r in range(n)], dtype=np.float32)
    return bool(np.isclose(miner_value, np.dot(a_row, b_col), atol=1e-5))


# --- vectorised numpy ------------------------------------------------------------------

def xorshift_array(x):
    for _ in range(10):
        x = x ^ ((x << 13) & MASK)
        x = x ^ ((x >> 17) & MASK)
        x = x ^ ((x << 5) & MASK)
    return x


def value_check_vectorised(s_a, s_b, i, j, n, miner_value):
    idx = np.arange(n, dtype=np.int64)
    a_row = (xorshift_array((s_a + i + idx) & MASK) / float(MASK)).astype(np.float32)
    b_col = (xorshift_array((s_b + idx + j) & MASK) / float(MASK)).astype(np.float32)
    return bool(np.isclose(miner_value, np.dot(a_row, b_col), atol=1e-5))


def generate_matrix(s, n, block_rows=256):
    out = np.empty((n, n), dtype=np.float32)
    cols = np.arange(n, dtype=np.int64)[None, :]
    for r0 in range(0, n, block_rows):
        rows = np.arange(r0, min(n, r0 + block_rows), dtype=np.int64)[:, None]
        states = (s + (rows % 2**32) + cols) & MASK
        states = xorshift_array(states)
        out[r0:r0 + rows.shape[0]] = states.astype(np.float32) / np.float32(float(MASK))
    return out


# --- reference Merkle tree -------------------------------------------------------------

def build_merkle_tree_rows(c, num_threads=8):
    n = c.shape[0]

    def hash_row(i):
        return hashlib.sha256(c[i, :].tobytes()).digest()

    with ThreadPool(num_threads) as pool:
        leaves = pool.map(hash_row, range(n))
    tree = leaves.copy()
    num_leaves = len(leaves)
    offset = 0

    def hash_pair(i):
        left = tree[offset + i]
        right = tree[offset + i + 1] if i + 1 < num_leaves else left
        return hashlib.sha256(left + right).digest()

    while num_leaves > 1:
        with ThreadPool(num_threads) as pool:
            new_level = pool.map(hash_pair, range(0, num_leaves, 2))
        tree.extend(new_level)
        offset += num_leaves
        num_leaves = len(new_level)
    return tree[-1], tree


def merkle_proof(tree, index, total):
    proof = []
    idx, num, offset = index, total, 0
    while num > 1:
        sib = idx ^ 1
        proof.append(tree[offset + sib] if sib < num else tree[offset + idx])
        idx //= 2
        offset += num
        num = (num + 1) // 2
    return proof


def verify_merkle_proof_row(row, proof, root, index):
    h = hashlib.sha256(row.tobytes()).digest()
    idx = index
    for sib in proof:
        h = hashlib.sha256(h + sib).digest() if idx % 2 == 0 else hashlib.sha256(sib + h).digest()
        idx //= 2
    return h == root


def per_op(fn, reps):
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20704)
    p.add_argument("--value-ref-reps", type=int, default=2)
    p.add_argument("--value-reps", type=int, default=20)
    p.add_argument("--proof-reps", type=int, default=2000)
    p.add_argument("--matrix-reps", type=int, default=1)
    p.add_argument("--merkle-reps", type=int, default=1)
    p.add_argument("--hash-rows", type=int, default=4000)
    args = p.parse_args()
    n = args.n
    s_a, s_b, i, j = 0x1234_5678, 0x9ABC_DEF0, n // 3, n // 2
    out = {"n": n, "cpus": os.cpu_count()}

    with np.errstate(over="ignore"):
        value_check_reference(s_a, s_b, i, j, n, 0.0)
        out["value_check_reference_s"] = per_op(
            lambda: value_check_reference(s_a, s_b, i, j, n, 0.0), args.value_ref_reps)
        value_check_vectorised(s_a, s_b, i, j, n, 0.0)
        out["value_check_vectorised_s"] = per_op(
            lambda: value_check_vectorised(s_a, s_b, i, j, n, 0.0), args.value_reps)

        m = None
        start = time.perf_counter()
        for _ in range(args.matrix_reps):
            m = None
            m = generate_matrix(s_a, n)
        out["matrix_generation_s"] = (time.perf_counter() - start) / args.matrix_reps

    start = time.perf_counter()
    for _ in range(args.merkle_reps):
        root, tree = build_merkle_tree_rows(m)
    out["merkle_build_s"] = (time.perf_counter() - start) / args.merkle_reps

    row_index = n - 1
    proof = merkle_proof(tree, row_index, n)
    row = m[row_index, :]
    assert verify_merkle_proof_row(row, proof, root, row_index)
    out["proof_nodes"] = len(proof)
    out["proof_verify_s"] = per_op(
        lambda: verify_merkle_proof_row(row, proof, root, row_index), args.proof_reps)

    rows = min(args.hash_rows, n)
    start = time.perf_counter()
    for r in range(rows):
        hashlib.sha256(m[r]).digest()
    out["hashlib_gbps"] = rows * 4 * n / (time.perf_counter() - start) / 1e9
    out["reps"] = {"value_reference": args.value_ref_reps, "value": args.value_reps,
                   "proof": args.proof_reps, "matrix": args.matrix_reps,
                   "merkle": args.merkle_reps, "hash_rows": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
