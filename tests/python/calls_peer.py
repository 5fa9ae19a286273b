"""The Python stack's call encoding as a test peer (tests/chain_calls_python.rs).

  calls_peer.py <metadata file> <calls.json>

calls.json: [{"function": name, "args": {name: value}}]. Prints the hex call data that
scalecodec (as installed with bittensor 10.5 / async-substrate-interface) produces for each,
with the runtime's own metadata.
"""

import json
import sys

from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

runtime = RuntimeConfigurationObject()
runtime.update_type_registry(load_type_registry_preset("core"))
metadata = runtime.create_scale_object("MetadataVersioned", data=ScaleBytes(open(sys.argv[1], "rb").read()))
metadata.decode()
runtime.add_portable_registry(metadata)

out = []
for call in json.load(open(sys.argv[2])):
    encoded = runtime.create_scale_object("Call", metadata=metadata)
    encoded.encode(
        {"call_module": "SubtensorModule", "call_function": call["function"], "call_args": call["args"]}
    )
    out.append(encoded.data.to_hex())
print(json.dumps(out))
