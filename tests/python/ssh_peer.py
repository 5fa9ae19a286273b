"""An SSH login as SN27 validators make it (paramiko, any host key accepted, 10 s timeout).

  ssh_peer.py <host> <port> <user> <password|-> <key file|-> <command>
      log in with the password, or with the private key file, run the command;
      print {"stdout", "stderr", "exit", "host_key"} (host_key: SHA256 fingerprint)
"""

import base64
import hashlib
import json
import sys

import paramiko


def main():
    host, port, user, password, key_file, command = sys.argv[1:7]
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    kwargs = {"hostname": host, "port": int(port), "username": user, "timeout": 10,
              "allow_agent": False, "look_for_keys": False}
    if key_file != "-":
        kwargs["key_filename"] = key_file
    else:
        kwargs["password"] = password
    client.connect(**kwargs)
    key = client.get_transport().get_remote_server_key()
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    _, stdout, stderr = client.exec_command(command, timeout=30)
    out, err = stdout.read().decode(), stderr.read().decode()
    code = stdout.channel.recv_exit_status()
    client.close()
    print(json.dumps({"stdout": out, "stderr": err, "exit": code, "host_key": fingerprint}))


if __name__ == "__main__":
    main()
