#!/usr/bin/env python3
"""sn27 Proof-of-GPU worker, protocol version 1 (PROTOCOL_VERSION = 1).

A validator uploads this file into a miner's container and runs it with the container's
Python (stdlib + numpy + torch). It has the modes and semantics of the reference
miner_script_m_merkletree.py (sn27-protocol 6.2) but speaks JSON, keeps full 32-byte Merkle
nodes, transmits floats bit-exactly, and writes its files only into a fresh private
directory. Every mode prints exactly ONE line of JSON on stdout and nothing on stderr.
Numbers are JSON numbers; hashes are 64 lower-case hex characters (32 bytes); every
object carries "protocol": 1.

Usage
    python3 sn27_pog_worker.py --mode MODE [--cpu-test] [mode arguments]

    --cpu-test   test-only backend that needs neither torch nor a GPU: it uses numpy if
                 importable, else pure Python, and reports one device named "CPU (test)".

Modes
    gpu_info
        Input:  none.
        Output: {"protocol":1,"mode":"gpu_info","num_gpus":N,"gpu_names":["...", ...]}
                from torch.cuda.device_count() / get_device_name(k); without torch or
                CUDA: N = 0 and []. --cpu-test: 1 and ["CPU (test)"].

    benchmark
        Input:  none.
        Output: {"protocol":1,"mode":"benchmark","num_gpus":N,"vram_gb":V,
                 "size16":S16,"t16":T16,"size32":S32,"t32":T32}
        V: fp16 tensors of 2^20, 2^21, ... elements are allocated on the default GPU, the
        previous one still alive, until allocation fails; V = 2*E_last/1e9 rounded to two
        decimals (E_last = last element count that succeeded).
        S16 = align32(floor(sqrt(V*1.0*1e9/4))), S32 = align32(floor(sqrt(V*0.5*1e9/8))),
        align32(x) = 32*floor(x/32). T16 / T32 = wall seconds of one matmul of two
        randn square matrices of side S16 in fp16 / S32 in fp32 (TF32 off) between two
        cuda synchronizes, no warm-up; GPU memory is freed between steps.
        --cpu-test: N = 1, V = 0.0001 (so S16 = 128, S32 = 64) and each time is the
        fastest of CPU_TEST_REPEATS float32 matmuls of that side on the CPU.

    compute  --seeds FILE
        Input:  FILE = {"n": n, "seeds": [[gpu_id, seed_a, seed_b], ...]}, 1 <= n <= 200000,
                distinct gpu ids below the device count (only 0 with --cpu-test), seeds
                integers in [0, 2^64).
        Work:   per listed GPU k (one thread per GPU): A[r][c] = f(seed_a, r, c),
                B[r][c] = f(seed_b, r, c), generated on device k, where
                x = (seed + r + c) mod 2^32, then 10 times: x ^= x<<13; x ^= x>>17;
                x ^= x<<5 (mod 2^32), and f = float32(x) * 2^-32 (sn27-protocol 6.4, miner
                conversion); C = A @ B in float32 with TF32 disabled; C is copied to the
                host; Merkle tree over the rows of C (leaf = SHA-256 of the row as n
                little-endian float32; parent = SHA-256(left || right), an odd level
                duplicates its last node; sn27-protocol 6.5).
        Files:  a fresh directory DIR = mkdtemp(prefix="sn27-pog-") in /dev/shm if writable,
                else /tmp, mode 0700, holding per GPU k:
                  C_<k>.f32     C as raw little-endian float32, row-major, 4*n*n bytes;
                  tree_<k>.bin  every node, 32 bytes each, level by level, leaves first,
                                root last.
        Output: {"protocol":1,"mode":"compute","dir":DIR,"gpus":[{"id":k,"n":n,
                 "root":"<64 hex>","timings":{"generation":s,"multiplication":s,
                 "transfer":s,"merkle":s}}, ...]}  (gpus sorted by id)
                --cpu-test: "multiplication" is the fastest of CPU_TEST_REPEATS products.

    proof  --dir DIR --challenges FILE
        Input:  DIR from compute (must be a directory named sn27-pog-*, owned by this user,
                not accessible to others); FILE = {"challenges": [[gpu_id, i, j], ...]}
                with 1 to 256 entries, 0 <= i, j < n.
        Files:  DIR/responses.json = {"protocol":1,"mode":"proof","n":n,"responses":[
                 {"id":k,"i":i,"j":j,"row":"<8n hex: row i of C_k as n little-endian
                 float32>","proof":["<64 hex>", ...]}, ...]}  in challenge order; a proof
                has ceil(log2 n) sibling nodes, bottom-up, where a missing sibling (last
                node of an odd level) is the node itself.
        Output: {"protocol":1,"mode":"proof","file":"DIR/responses.json","bytes":SIZE}

Failure (any mode): exit status 1 and one line {"protocol":1,"error":"<message>"} on
stdout. Anything else written to stdout or stderr during the run (Python or native
warnings) is captured: discarded on success, appended to the error message on failure.
"""

import os

# The allocator setting must precede any torch import; an operator's own choice wins.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:512")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import stat  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

PROTOCOL_VERSION = 1
MAX_N = 200_000
MAX_GPUS = 64
MAX_CHALLENGES = 256
MAX_INPUT_BYTES = 1 << 20
DIR_PREFIX = "sn27-pog-"
CPU_TEST_NAME = "CPU (test)"
CPU_TEST_VRAM_GB = 0.0001
# --cpu-test times each product as the fastest of this many: the products take milliseconds,
# the scheduler's slices on a busy machine as long, and the fastest run is the one nothing
# interrupted, so the benchmark and the compute step measure the same thing whatever the load.
CPU_TEST_REPEATS = 5
MASK32 = 0xFFFFFFFF
ROUNDS = 10
MINER_SCALE = 2.0 ** -32


class WorkerError(Exception):
    """A failure whose message is meant for the validator."""


# ---------------------------------------------------------------------------------------
# Shared arithmetic
# ---------------------------------------------------------------------------------------


def align32(x):
    return (x // 32) * 32


def adjust(vram_gb, elem_bytes, buffer):
    """align32(floor(sqrt(V*buffer*1e9 / (2*elem_bytes)))), evaluated as the Rust crate does."""
    usable = vram_gb * buffer * 1e9
    side = math.floor(math.sqrt(usable / (2.0 * elem_bytes))) if usable > 0 else 0
    return align32(int(side))


def round_vram(v):
    # Validators size matrices from the printed two-decimal value, so report exactly that.
    return float(f"{v:.2f}")


def proof_len(n):
    return 0 if n <= 1 else (n - 1).bit_length()


def level_sizes(n):
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def hash_rows(buf, n, threads):
    """Leaves of the rows of the n x n little-endian float32 matrix held in `buf`."""
    view = memoryview(buf).cast("B")
    row_bytes = 4 * n
    if len(view) != row_bytes * n:
        raise WorkerError(f"matrix buffer has {len(view)} bytes, expected {row_bytes * n}")

    def hash_range(bounds):
        lo, hi = bounds
        sha = hashlib.sha256
        return [sha(view[r * row_bytes:(r + 1) * row_bytes]).digest() for r in range(lo, hi)]

    # hashlib releases the GIL for inputs over 2 KiB, so row ranges hash in parallel.
    threads = max(1, min(threads, n))
    step = -(-n // threads)
    ranges = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    if len(ranges) == 1:
        return hash_range(ranges[0])
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        leaves = []
        for part in pool.map(hash_range, ranges):
            leaves.extend(part)
        return leaves


def merkle_levels(leaves):
    levels = [leaves]
    level = leaves
    sha = hashlib.sha256
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level), 2):
            left = level[k]
            right = level[k + 1] if k + 1 < len(level) else left
            nxt.append(sha(left + right).digest())
        levels.append(nxt)
        level = nxt
    return levels


def host_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------------------


def read_json_file(path, what):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as e:
        raise WorkerError(f"cannot read {what} file {path!r}: {e.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise WorkerError(f"{what} file {path!r} is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise WorkerError(f"{what} file {path!r} is not valid JSON: {e}") from None


def require_int(value, what, lo, hi):
    """An integer in [lo, hi); JSON booleans are not integers here."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value < hi:
        raise WorkerError(f"{what} must be an integer in [{lo}, {hi}), got {value!r}")
    return value


def require_keys(obj, keys, what):
    if not isinstance(obj, dict) or set(obj) != set(keys):
        raise WorkerError(f"{what} must be a JSON object with exactly the keys {sorted(keys)}")


def parse_seeds(doc, devices):
    require_keys(doc, ("n", "seeds"), "seeds file")
    n = require_int(doc["n"], "n", 1, MAX_N + 1)
    entries = doc["seeds"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_GPUS:
        raise WorkerError(f"seeds must be a list of 1 to {MAX_GPUS} entries")
    seeds = {}
    for k, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 3:
            raise WorkerError(f"seeds[{k}] must be [gpu_id, seed_a, seed_b]")
        gpu = require_int(entry[0], f"seeds[{k}] gpu id", 0, devices)
        if gpu in seeds:
            raise WorkerError(f"seeds[{k}] repeats gpu id {gpu}")
        seeds[gpu] = (
            require_int(entry[1], f"seeds[{k}] seed_a", 0, 1 << 64),
            require_int(entry[2], f"seeds[{k}] seed_b", 0, 1 << 64),
        )
    return n, seeds


def parse_challenges(doc):
    require_keys(doc, ("challenges",), "challenges file")
    entries = doc["challenges"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_CHALLENGES:
        raise WorkerError(f"challenges must be a list of 1 to {MAX_CHALLENGES} entries")
    out = []
    for k, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 3:
            raise WorkerError(f"challenges[{k}] must be [gpu_id, i, j]")
        out.append((
            require_int(entry[0], f"challenges[{k}] gpu id", 0, MAX_GPUS),
            require_int(entry[1], f"challenges[{k}] i", 0, MAX_N),
            require_int(entry[2], f"challenges[{k}] j", 0, MAX_N),
        ))
    return out


# ---------------------------------------------------------------------------------------
# Output directory and files
# ---------------------------------------------------------------------------------------


def make_output_dir():
    base = "/dev/shm"
    if not (os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)):
        base = "/tmp"
    path = tempfile.mkdtemp(prefix=DIR_PREFIX, dir=base)
    os.chmod(path, 0o700)
    return path


def write_private(path, chunks):
    """Writes a new file readable only by us, never following a planted link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        for chunk in chunks:
            f.write(chunk)


def check_output_dir(path):
    if not isinstance(path, str) or not os.path.isabs(path):
        raise WorkerError("--dir must be an absolute path")
    path = os.path.normpath(path)
    if not os.path.basename(path).startswith(DIR_PREFIX):
        raise WorkerError(f"--dir must name a {DIR_PREFIX}* directory made by compute")
    try:
        st = os.lstat(path)
    except OSError as e:
        raise WorkerError(f"--dir {path!r}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WorkerError(f"--dir {path!r} is not a directory (or is a link)")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise WorkerError(f"--dir {path!r} is not a private directory owned by this user")
    return path


def open_result(dir_path, name):
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(os.path.join(dir_path, name), flags)
    except OSError as e:
        raise WorkerError(f"cannot open {name} in {dir_path!r}: {e.strerror}") from None


def pread_exact(fd, size, offset, what):
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise WorkerError(f"{what}: short read ({len(data)} of {size} bytes)")
    return data


# ---------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------


def python_product(rows, cols):
    """The matrix product in pure Python (f64 sums), row by row: rows of the left factor and
    columns of the right one."""
    return [[sum(x * y for x, y in zip(row, col)) for col in cols] for row in rows]


def fastest(work):
    """--cpu-test: (the result, the shortest wall time) of CPU_TEST_REPEATS runs of work()."""
    best = None
    for _ in range(CPU_TEST_REPEATS):
        start = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - start
        if best is None or elapsed < best:
            best = elapsed
    return result, best


class CpuBackend:
    """--cpu-test: one fake device on the CPU, numpy if present, else pure Python."""

    def __init__(self):
        try:
            import numpy
        except ImportError:
            numpy = None
        self.np = numpy

    def gpu_names(self):
        return [CPU_TEST_NAME]

    def estimate_vram_gb(self):
        return CPU_TEST_VRAM_GB

    def time_matmul(self, side, fp16):
        # The test backend has no fp16 unit worth measuring: both benchmarks run in float32,
        # and always with the pure-Python product the compute step uses without numpy, so
        # that the two timings the timing rule compares scale alike (at these sizes a numpy
        # call is all overhead, and the rule would compare noise with noise).
        rows = [[random.gauss(0.0, 1.0) for _ in range(side)] for _ in range(side)]
        cols = [[random.gauss(0.0, 1.0) for _ in range(side)] for _ in range(side)]
        return fastest(lambda: python_product(rows, cols))[1]

    def _sequence(self, seed, length):
        """Element values for row + col = 0 .. length-1 (a matrix depends only on row + col)."""
        base = seed & MASK32
        if self.np is not None:
            np = self.np
            x = (np.arange(length, dtype=np.uint64) + np.uint64(base)) & np.uint64(MASK32)
            x = x.astype(np.uint32)
            for _ in range(ROUNDS):
                x ^= x << np.uint32(13)
                x ^= x >> np.uint32(17)
                x ^= x << np.uint32(5)
            return x.astype(np.float32) * np.float32(MINER_SCALE)
        values = []
        pack, unpack = struct.pack, struct.unpack
        for k in range(length):
            x = (base + k) & MASK32
            for _ in range(ROUNDS):
                x ^= (x << 13) & MASK32
                x ^= x >> 17
                x ^= (x << 5) & MASK32
            # float32(x) with round-to-nearest, then an exact power-of-two scale.
            values.append(unpack("<f", pack("<f", float(x)))[0] * MINER_SCALE)
        return values

    def compute(self, gpu, seed_a, seed_b, n):
        t0 = time.perf_counter()
        va = self._sequence(seed_a, 2 * n - 1)
        vb = self._sequence(seed_b, 2 * n - 1)
        if self.np is not None:
            np = self.np
            windows = np.lib.stride_tricks.sliding_window_view
            a = np.ascontiguousarray(windows(va, n))
            b = np.ascontiguousarray(windows(vb, n))
            t1 = time.perf_counter()
            product, multiplication = fastest(lambda: np.matmul(a, b))
            t2 = time.perf_counter()
            data = np.ascontiguousarray(product, dtype="<f4")
        else:
            # A[i][c] = va[i + c] and B[c][j] = vb[c + j]: row i of A and column j of B are
            # windows of the two sequences.
            a_rows = [va[i:i + n] for i in range(n)]
            b_cols = [vb[j:j + n] for j in range(n)]
            t1 = time.perf_counter()
            sums, multiplication = fastest(lambda: python_product(a_rows, b_cols))
            t2 = time.perf_counter()
            fmt = f"<{n}f"
            # The f64 sums are rounded to float32 by pack.
            data = b"".join(struct.pack(fmt, *row) for row in sums)
        t3 = time.perf_counter()
        return data, {"generation": t1 - t0, "multiplication": multiplication, "transfer": t3 - t2}


class TorchBackend:
    """The real thing: CUDA devices through torch."""

    def __init__(self, require_cuda=True):
        try:
            import torch
        except ImportError:
            torch = None
        self.torch = torch
        self.available = torch is not None and torch.cuda.is_available()
        if require_cuda and not self.available:
            raise WorkerError("no CUDA device available (torch missing or CUDA not usable)")
        if self.available:
            # Exact float32 products: TF32 would change C beyond the validator's tolerance.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.set_float32_matmul_precision("highest")

    def gpu_names(self):
        if not self.available:
            return []
        torch = self.torch
        return [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())]

    def estimate_vram_gb(self):
        torch = self.torch
        elements = 1 << 20
        last = 0
        arr = None
        try:
            while True:
                # Assigning after allocating keeps the previous tensor alive meanwhile,
                # as the reference does.
                arr = torch.empty((elements,), dtype=torch.float16, device="cuda")
                last = elements
                elements *= 2
        except RuntimeError:
            pass
        finally:
            arr = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        if last == 0:
            raise WorkerError("could not allocate even 2 MiB of GPU memory")
        return round_vram(2 * last / 1e9)

    def time_matmul(self, side, fp16):
        torch = self.torch
        dtype = torch.float16 if fp16 else torch.float32
        a = torch.randn(side, side, dtype=dtype, device="cuda")
        b = torch.randn(side, side, dtype=dtype, device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        c = torch.matmul(a, b)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        del a, b, c
        torch.cuda.empty_cache()
        return elapsed

    def _matrix(self, seed, n, device):
        torch = self.torch
        out = torch.empty((n, n), dtype=torch.float32, device=device)
        cols = torch.arange(n, dtype=torch.int64, device=device).view(1, n)
        base = seed & MASK32
        # Row blocks of about 2^26 int64 values bound the temporaries to ~1.5 GB.
        step = max(1, (1 << 26) // n)
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            rows = torch.arange(r0, r1, dtype=torch.int64, device=device).view(-1, 1)
            x = (rows + cols + base) & MASK32
            for _ in range(ROUNDS):
                x ^= (x << 13) & MASK32
                x ^= x >> 17
                x ^= (x << 5) & MASK32
            out[r0:r1] = x.to(torch.float32) * MINER_SCALE
            del x, rows
        return out

    def compute(self, gpu, seed_a, seed_b, n):
        torch = self.torch
        device = torch.device(f"cuda:{gpu}")
        with torch.cuda.device(device):
            torch.cuda.empty_cache()
            t0 = time.perf_counter()
            a = self._matrix(seed_a, n, device)
            b = self._matrix(seed_b, n, device)
            torch.cuda.synchronize(device)
            t1 = time.perf_counter()
            c = torch.matmul(a, b)
            torch.cuda.synchronize(device)
            t2 = time.perf_counter()
            del a, b
            host = c.cpu()
            t3 = time.perf_counter()
            del c
            torch.cuda.empty_cache()
        if sys.byteorder != "little":
            raise WorkerError("host is big-endian; the protocol stores little-endian float32")
        # The numpy view shares the host tensor's memory: no second copy of C.
        timings = {"generation": t1 - t0, "multiplication": t2 - t1, "transfer": t3 - t2}
        return host.numpy(), timings


# ---------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------


def mode_gpu_info(backend):
    names = backend.gpu_names()
    return {"protocol": PROTOCOL_VERSION, "mode": "gpu_info", "num_gpus": len(names),
            "gpu_names": names}


def mode_benchmark(backend):
    num = len(backend.gpu_names())
    if num == 0:
        raise WorkerError("no GPU to benchmark")
    vram = backend.estimate_vram_gb()
    size16 = adjust(vram, 2, 1.0)
    size32 = adjust(vram, 4, 0.5)
    if size16 == 0 or size32 == 0:
        raise WorkerError(f"VRAM estimate {vram} GB is too small to benchmark")
    t16 = backend.time_matmul(size16, fp16=True)
    t32 = backend.time_matmul(size32, fp16=False)
    # A clock too coarse to see the matmul must not yield a zero (infinite TFLOPS).
    return {"protocol": PROTOCOL_VERSION, "mode": "benchmark", "num_gpus": num,
            "vram_gb": vram, "size16": size16, "t16": max(t16, 1e-9),
            "size32": size32, "t32": max(t32, 1e-9)}


def mode_compute(backend, seeds_path):
    devices = len(backend.gpu_names())
    if devices == 0:
        raise WorkerError("no GPU to compute on")
    n, seeds = parse_seeds(read_json_file(seeds_path, "seeds"), devices)
    out_dir = make_output_dir()
    hash_threads = host_threads()

    def run(gpu):
        seed_a, seed_b = seeds[gpu]
        data, timings = backend.compute(gpu, seed_a, seed_b, n)
        start = time.perf_counter()
        levels = merkle_levels(hash_rows(data, n, hash_threads))
        timings["merkle"] = time.perf_counter() - start
        write_private(os.path.join(out_dir, f"C_{gpu}.f32"), [data])
        del data
        write_private(os.path.join(out_dir, f"tree_{gpu}.bin"),
                      [b"".join(level) for level in levels])
        return {"id": gpu, "n": n, "root": levels[-1][0].hex(), "timings": timings}

    ids = sorted(seeds)
    if len(ids) == 1:
        results = [run(ids[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(ids)) as pool:
            results = list(pool.map(run, ids))
    return {"protocol": PROTOCOL_VERSION, "mode": "compute", "dir": out_dir,
            "gpus": sorted(results, key=lambda g: g["id"])}


def load_commitment(dir_path, gpu, cache):
    """Open files and n of GPU `gpu`, checking the file sizes agree with each other."""
    if gpu in cache:
        return cache[gpu]
    c_fd = open_result(dir_path, f"C_{gpu}.f32")
    t_fd = open_result(dir_path, f"tree_{gpu}.bin")
    c_size = os.fstat(c_fd).st_size
    n = math.isqrt(c_size // 4)
    if n == 0 or 4 * n * n != c_size or n > MAX_N:
        raise WorkerError(f"C_{gpu}.f32 has {c_size} bytes, not 4*n*n for a valid n")
    sizes = level_sizes(n)
    if os.fstat(t_fd).st_size != 32 * sum(sizes):
        raise WorkerError(f"tree_{gpu}.bin does not hold the {sum(sizes)} nodes of n = {n}")
    cache[gpu] = (c_fd, t_fd, n, sizes)
    return cache[gpu]


def mode_proof(dir_arg, challenges_path):
    dir_path = check_output_dir(dir_arg)
    challenges = parse_challenges(read_json_file(challenges_path, "challenges"))
    cache = {}
    responses = []
    n_all = None
    try:
        for gpu, i, j in challenges:
            c_fd, t_fd, n, sizes = load_commitment(dir_path, gpu, cache)
            if n_all is None:
                n_all = n
            elif n != n_all:
                raise WorkerError(f"GPU {gpu} has n = {n}, others n = {n_all}")
            if i >= n or j >= n:
                raise WorkerError(f"challenge ({gpu}, {i}, {j}) is outside n = {n}")
            row = pread_exact(c_fd, 4 * n, 4 * n * i, f"row {i} of C_{gpu}.f32")
            proof = []
            offset = 0
            idx = i
            for count in sizes[:-1]:
                sibling = idx ^ 1 if (idx ^ 1) < count else idx
                node = pread_exact(t_fd, 32, 32 * (offset + sibling), f"tree_{gpu}.bin")
                proof.append(node.hex())
                offset += count
                idx //= 2
            responses.append({"id": gpu, "i": i, "j": j, "row": row.hex(), "proof": proof})
    finally:
        for c_fd, t_fd, _, _ in cache.values():
            os.close(c_fd)
            os.close(t_fd)
    doc = {"protocol": PROTOCOL_VERSION, "mode": "proof", "n": n_all, "responses": responses}
    body = json.dumps(doc, separators=(",", ":")).encode("ascii")
    final = os.path.join(dir_path, "responses.json")
    partial = final + ".partial"
    write_private(partial, [body])
    os.replace(partial, final)
    return {"protocol": PROTOCOL_VERSION, "mode": "proof", "file": final, "bytes": len(body)}


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------


class ArgParser(argparse.ArgumentParser):
    def error(self, message):
        raise WorkerError(f"bad arguments: {message}")


def run(argv):
    parser = ArgParser(description="sn27 Proof-of-GPU worker (JSON protocol 1)", add_help=False)
    parser.add_argument("--mode", required=True, choices=["gpu_info", "benchmark", "compute", "proof"])
    parser.add_argument("--cpu-test", action="store_true")
    parser.add_argument("--seeds")
    parser.add_argument("--dir")
    parser.add_argument("--challenges")
    args = parser.parse_args(argv)

    if args.mode == "proof":
        if not args.dir or not args.challenges:
            raise WorkerError("proof mode needs --dir and --challenges")
        return mode_proof(args.dir, args.challenges)
    if args.mode == "compute" and not args.seeds:
        raise WorkerError("compute mode needs --seeds")
    backend = CpuBackend() if args.cpu_test else TorchBackend(require_cuda=args.mode != "gpu_info")
    if args.mode == "gpu_info":
        return mode_gpu_info(backend)
    if args.mode == "benchmark":
        return mode_benchmark(backend)
    return mode_compute(backend, args.seeds)


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n")
    sys.stdout.flush()


def main(argv):
    warnings.filterwarnings("ignore")
    # Native libraries (CUDA, cuBLAS) may write to fd 1 or 2 directly, and the validator
    # treats any stderr text as failure and expects one stdout line: both descriptors go
    # to a temporary file during the run, shown only (as part of the error) on failure.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    captured = tempfile.TemporaryFile()
    os.dup2(captured.fileno(), 1)
    os.dup2(captured.fileno(), 2)
    try:
        result = run(argv)
        status = 0
    except WorkerError as e:
        result, status = str(e), 1
    except MemoryError:
        result, status = "out of host memory", 1
    except Exception as e:  # noqa: BLE001 - every failure must become the JSON error line
        result, status = f"{type(e).__name__}: {e}", 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    if status == 0:
        try:
            emit(result)
        except ValueError as e:
            result, status = f"output not representable as JSON: {e}", 1
    if status != 0:
        captured.seek(0, os.SEEK_END)
        size = captured.tell()
        captured.seek(max(0, size - 2000))
        tail = captured.read().decode("utf-8", "replace").strip()
        message = result + (f" [captured output: {tail}]" if tail else "")
        emit({"protocol": PROTOCOL_VERSION, "error": message})
    captured.close()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
