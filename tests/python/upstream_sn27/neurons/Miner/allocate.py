"""SN27 v2.2.1's `neurons/Miner/allocate.py`: the four answers behind `Allocate`.

The allocation key (the caller's RSA public key, base64) lives in `./allocation_key`, relative
to the miner's working directory; it is what ownership checks and releases compare against.
"""

import base64
import os

import bittensor as bt

from compute.utils.exceptions import make_error_response
from neurons.Miner.container import check_container, kill_container, run_container
from neurons.Miner.schedule import start

ALLOCATION_KEY_FILE = "allocation_key"


def register_allocation(timeline, device_requirement, public_key, docker_requirement):
    """Kills whatever test container runs (a rental is left alone), then builds and runs a new
    container and schedules its end."""
    try:
        kill_container()
        # Read in upstream's order, so a malformed request fails at the same field.
        cpu_count = device_requirement["cpu"]["count"]
        cpu_usage = {"assignment": "0" if cpu_count == 1 else f"0-{cpu_count - 1}"}
        ram_capacity = device_requirement["ram"]["capacity"]
        disk_capacity = device_requirement["hard_disk"]["capacity"]
        testing = device_requirement.get("testing", False)
        gpu = device_requirement["gpu"]
        gpu_usage = {"capacity": gpu["capacity"] if gpu else 0}
        ram_usage = {"capacity": f"{int(ram_capacity / 1073741824)}g"}
        disk_usage = {"capacity": f"{int(disk_capacity / 1073741824)}g"}
        run_status = run_container(
            cpu_usage, ram_usage, disk_usage, gpu_usage, public_key, docker_requirement, testing
        )
        if run_status["status"]:
            bt.logging.info("Successfully allocated container.")
        start(timeline)
        return run_status
    except Exception as e:
        return make_error_response(f"Error allocating container {e}", status=False, exception=e)


def _allocation_key():
    with open(ALLOCATION_KEY_FILE) as file:
        return base64.b64decode(file.read()).decode("utf-8")


def deregister_allocation(public_key):
    """Kills the rental and the test container if `public_key` is the allocation key."""
    try:
        if _allocation_key().strip() != public_key.strip():
            return make_error_response("Permission denied for de-allocation.", status=False)
        try:
            kill_container(deregister=True)
            with open(ALLOCATION_KEY_FILE, "w") as file:
                file.truncate(0)
            bt.logging.info("Successfully de-allocated container.")
            return {"status": True}
        except Exception as e:
            return make_error_response("kill_container failed.", status=False, exception=e)
    except Exception as e:
        return make_error_response(f"Error de-allocating container {e}", status=False, exception=e)


def check_allocation(timeline, device_requirement):
    """Available unless one of the two containers runs."""
    return {"status": not check_container()}


def check_if_allocated(public_key):
    """Whether `public_key` holds the allocation and its container runs."""
    try:
        if not os.path.exists(ALLOCATION_KEY_FILE):
            return {"status": False}
        with open(ALLOCATION_KEY_FILE) as file:
            encoded = file.read()
        if not encoded.strip():
            return {"status": False}
        if base64.b64decode(encoded).decode("utf-8").strip() != public_key.strip():
            return {"status": False}
        return {"status": check_container()}
    except Exception:
        return {"status": False}
