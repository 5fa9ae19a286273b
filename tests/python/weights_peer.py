"""The Python SDK's weight arithmetic as a test peer (tests/weights_python.rs).

  weights_peer.py <cases.json>

Each case: {"scores": [...], "hotkey": ss58, "netuid": n, "salt": [...], "version_key": k}.
For each, prints the float32 L1-normalised weights (numpy, as validators compute them), the
SDK's u16 conversion and the SDK's commit hash of the result.
"""

import json
import sys

import numpy as np
from bittensor.utils.weight_utils import convert_weights_and_uids_for_emit, generate_weight_hash

results = []
for case in json.load(open(sys.argv[1])):
    scores = np.array(case["scores"], dtype=np.float32)
    scores[scores < 0] = 0
    weights = scores / max(np.sum(np.abs(scores)), 1e-12)
    uids = np.arange(len(weights), dtype=np.int64)
    dests, values = convert_weights_and_uids_for_emit(uids, weights.astype(np.float32))
    commit = generate_weight_hash(
        address=case["hotkey"],
        netuid=case["netuid"],
        uids=list(dests),
        values=list(values),
        version_key=case["version_key"],
        salt=case["salt"],
    )
    results.append(
        {
            "normalized_bits": [int(x) for x in weights.astype(np.float32).view(np.uint32)],
            "dests": list(dests),
            "values": list(values),
            "commit": commit,
        }
    )
print(json.dumps(results))
