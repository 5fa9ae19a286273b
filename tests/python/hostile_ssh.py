"""A hostile miner's SSH server (paramiko), for the bounds of the validator's SSH client.

  hostile_ssh.py CHANNELS
      listens on 127.0.0.1 (any port), prints the port, accepts any password; once a client
      is logged in it tries to open CHANNELS forwarded-tcpip channels towards it and prints
      `channels: <accepted> accepted, <refused> refused`. Commands:
        forever  stdout without end, as fast as the client takes it
        drip     one byte every 50 ms, without end
        ok       prints "ok", exit status 0
"""

import logging
import socket
import sys
import threading
import time

import paramiko


class Server(paramiko.ServerInterface):
    def __init__(self):
        self.commands = {}

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        # Acted on once the channel is accepted (and the request answered), in `serve`.
        self.commands[channel.get_id()] = command.decode()
        return True


def run(server, channel):
    deadline = time.monotonic() + 10
    while channel.get_id() not in server.commands and time.monotonic() < deadline:
        time.sleep(0.01)
    command = server.commands.get(channel.get_id())
    try:
        if command == "forever":
            chunk = b"x" * 32768
            while True:
                channel.sendall(chunk)
        elif command == "drip":
            while True:
                channel.sendall(b"x")
                time.sleep(0.05)
        else:
            channel.sendall(b"ok\n")
            channel.send_exit_status(0)
            channel.close()
    except (OSError, EOFError, paramiko.SSHException):
        pass


def serve(client, channels):
    transport = paramiko.Transport(client)
    transport.add_server_key(KEY)
    server = Server()
    transport.start_server(server=server)
    # Wait for the login, then open channels the client never asked for.
    while transport.is_active() and not transport.is_authenticated():
        time.sleep(0.05)
    accepted = refused = 0
    for k in range(channels):
        try:
            transport.open_forwarded_tcpip_channel(("10.0.0.1", 40000 + k), ("127.0.0.1", 22))
            accepted += 1
        except (paramiko.SSHException, EOFError, OSError):
            refused += 1
    print(f"channels: {accepted} accepted, {refused} refused", flush=True)
    while transport.is_active():
        channel = transport.accept(1)
        if channel is not None:
            threading.Thread(target=run, args=(server, channel), daemon=True).start()


KEY = paramiko.RSAKey.generate(2048)
# The refusals are the point; paramiko would log each one to stderr.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def main():
    channels = int(sys.argv[1])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print(listener.getsockname()[1], flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, channels), daemon=True).start()


if __name__ == "__main__":
    main()
