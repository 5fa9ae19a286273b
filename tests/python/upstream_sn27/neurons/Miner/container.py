"""SN27 v2.2.1's `neurons/Miner/container.py`: the containers behind an allocation.

One rental (`ssh-container`) or one test container (`ssh-test-container`) at a time, both run
from `ssh-image`, an image built per allocation `FROM ssh-image-base:latest` with the caller's
SSH key and a fresh root password pasted into `RUN` lines (defect #7 of sn27-protocol.md, kept
here: this is the reference as it runs).
"""

import base64
import json
import os
import secrets
import string

import bittensor as bt
import docker
import psutil
from docker.types import DeviceRequest

import neurons.RSAEncryption as rsa
from compute import __version_as_int__
from compute.utils.exceptions import make_error_response

image_name = "ssh-image"
image_name_base = "ssh-image-base"
container_name = "ssh-container"
container_name_test = "ssh-test-container"


def get_docker():
    client = docker.from_env()
    return client, client.containers.list(all=True)


def _stop_and_remove(container):
    # SIGTERM to the container's init, wait for the exit, remove.
    if container.status == "running":
        container.exec_run(cmd="kill -15 1")
        container.wait()
    container.remove()


def kill_container(deregister=False):
    """Removes the test container; with `deregister`, the rental too. Then prunes dangling images."""
    client, containers = get_docker()
    test = next((c for c in containers if c.name == container_name_test), None)
    if deregister:
        rental = next((c for c in containers if c.name == container_name), None)
        if rental:
            _stop_and_remove(rental)
        bt.logging.info(f"Container '{container_name}' was killed successfully")
    if test:
        _stop_and_remove(test)
        bt.logging.info(f"Container '{container_name_test}' was killed successfully")
    else:
        bt.logging.info("No running container found.")
    client.images.prune(filters={"dangling": True})


def password_generator(length):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def build_sample_container():
    """A no-op when an image tagged `ssh-image-base…` exists (upstream builds it otherwise,
    from a registry image; the tests build it beforehand)."""
    client = docker.from_env()
    for image in client.images.list(all=True):
        if image.tags and image_name_base in image.tags[0]:
            bt.logging.info("Sample container image already exists.")
            return {"status": True}
    raise RuntimeError(f"{image_name_base} is not built (the test builds it beforehand)")


def run_container(cpu_usage, ram_usage, hard_disk_usage, gpu_usage, public_key, docker_requirement, testing):
    """Builds `ssh-image` and runs the container; answers the credentials sealed to `public_key`."""
    try:
        client, _ = get_docker()
        password = password_generator(10)
        ssh_key = docker_requirement.get("ssh_key")
        ssh_port = docker_requirement.get("ssh_port")
        appendix = docker_requirement.get("dockerfile")
        build_sample_container()
        if appendix is None or appendix == "":
            appendix = "echo 'Hello World!'"
        external_user_ports = docker_requirement.get("external_user_ports", {})
        ports = {22: ssh_port}
        for internal, external in external_user_ports.items():
            ports[int(internal)] = external
        shm_size_gb = int(0.9 * psutil.virtual_memory().available / (1024**3))
        dockerfile = (
            f"\n        FROM {image_name_base}:latest\n\n"
            f"        RUN {appendix}\n\n"
            f"        RUN mkdir -p /root/.ssh/ && echo '{ssh_key}' > /root/.ssh/authorized_keys"
            " && chmod 600 /root/.ssh/authorized_keys\n"
            f"        RUN echo 'root:{password}' | chpasswd\n\n        "
        )
        os.makedirs("tmp", exist_ok=True)
        with open(os.path.join("tmp", "dockerfile"), "w") as file:
            file.write(dockerfile)
        client.images.build(path="tmp", dockerfile="dockerfile", tag=image_name, rm=True)
        container = client.containers.run(
            image=image_name,
            name=container_name_test if testing else container_name,
            detach=True,
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
            environment=["NVIDIA_VISIBLE_DEVICES=all"],
            ports=ports,
            init=True,
            shm_size=f"{shm_size_gb}g",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
        )
        if container.status != "created":
            return make_error_response(f"Container failed with status: {container.status}", status=False)
        info = {
            "username": "root",
            "password": password,
            "port": ssh_port,
            "external_user_ports": external_user_ports,
            "version": __version_as_int__,
        }
        key = public_key.encode("utf-8")
        sealed = base64.b64encode(rsa.encrypt_data(key, json.dumps(info))).decode("utf-8")
        with open("allocation_key", "w") as file:
            file.write(base64.b64encode(key).decode("utf-8"))
        return {"status": True, "info": sealed, "message": "Container started successfully."}
    except docker.errors.BuildError as e:
        return make_error_response(f"Failed to build container image {e}", status=False, exception=e)
    except docker.errors.ContainerError as e:
        return make_error_response(f"Container failed to run {e}", status=False, exception=e)
    except docker.errors.APIError as e:
        return make_error_response(f"Docker error while starting container {e}", status=False, exception=e)
    except docker.errors.ImageNotFound as e:
        return make_error_response(f"Image not found for starting container {e}", status=False, exception=e)
    except Exception as e:
        return make_error_response(f"Error running container {e}", status=False, exception=e)


def check_container():
    """Whether the rental or the test container runs."""
    try:
        _, containers = get_docker()
        return any(
            c.name in (container_name, container_name_test) and c.status == "running" for c in containers
        )
    except Exception as e:
        bt.logging.info(f"Error checking container {e}")
        return False


def retrieve_allocation_key():
    try:
        with open("allocation_key") as file:
            return base64.b64decode(file.read()).decode("utf-8")
    except Exception:
        bt.logging.info("Error retrieving allocation key.")
        return None


def _own_container(public_key):
    """The first container whose name contains `ssh-container`, if `public_key` holds the
    allocation; else the refusal to answer."""
    allocation_key = retrieve_allocation_key()
    if allocation_key is None:
        return None, make_error_response("Failed to retrieve allocation key.", status=False)
    if allocation_key.strip() != public_key.strip():
        return None, make_error_response("Permission denied.", status=False)
    _, containers = get_docker()
    return next((c for c in containers if container_name in c.name), None), None


def restart_container(public_key):
    try:
        container, refusal = _own_container(public_key)
        if refusal:
            return refusal
        if container is None:
            return make_error_response("No running container.", status=False)
        if container.status == "running":
            container.exec_run(cmd="kill -15 1")
            container.wait()
        container.restart()
        container.reload()
        if container.status == "running":
            return {"status": True, "message": "Container restarted successfully."}
        return make_error_response(f"Failed to restart container. Status {container.status}", status=False)
    except Exception as e:
        return make_error_response(f"Error restart container: {e}", status=False, exception=e)


def _pause_or_unpause(public_key, pause):
    verb = "pausing" if pause else "unpausing"
    try:
        container, refusal = _own_container(public_key)
        if refusal:
            return refusal
        if container is None:
            return make_error_response("Unable to find container", status=False)
        if pause:
            container.pause()
        else:
            container.unpause()
        done = "paused" if pause else "un-paused"
        return {"status": True, "message": f"Container {done} successfully."}
    except Exception as e:
        return make_error_response(f"Error {verb} container {e}", status=False, exception=e)


def pause_container(public_key):
    return _pause_or_unpause(public_key, pause=True)


def unpause_container(public_key):
    return _pause_or_unpause(public_key, pause=False)
