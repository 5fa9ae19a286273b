"""A stand-in for systemd-journald's native socket, for the logging tests.

Run inside a private mount namespace whose /run is a fresh tmpfs (see tests/logging.rs): binds
/run/systemd/journal/socket unless --no-socket is given, runs the command after `--`, collects
every datagram it receives, and prints one JSON object: the command's exit status, its stderr,
and the journal entries decoded from the native protocol ("KEY=value" lines, or "KEY", a
little-endian u64 length and raw bytes for values with newlines)."""
import json
import os
import socket
import struct
import subprocess
import sys


def decode(datagram):
    fields = {}
    i = 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        line = datagram[i:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = end + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", datagram[end + 1 : end + 9])
            value = datagram[end + 9 : end + 9 + size]
            i = end + 9 + size + 1
        fields[key.decode()] = value.decode(errors="replace")
    return fields


def main():
    args = sys.argv[1:]
    bind = True
    if args and args[0] == "--no-socket":
        bind, args = False, args[1:]
    command = args[args.index("--") + 1 :]
    os.makedirs("/run/systemd/journal", exist_ok=True)
    sock = None
    if bind:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind("/run/systemd/journal/socket")
    done = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL)
    entries = []
    if sock is not None:
        sock.settimeout(0.5)
        while True:
            try:
                entries.append(decode(sock.recv(1 << 20)))
            except socket.timeout:
                break
    print(json.dumps({
        "status": done.returncode,
        "stderr": done.stderr.decode(errors="replace"),
        "entries": entries,
    }))


main()
