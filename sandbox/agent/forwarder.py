"""Inside a sandbox with no network: relay 127.0.0.1:<port> to the host's proxy socket.

    forwarder.py <port> <unix socket> -- <command...>

Listens, starts the command with HTTPS_PROXY pointing here, relays every connection to
the Unix socket (a host-side proxy that holds the allow-list), and exits with the
command's exit status. Standard library only; it grants nothing the socket does not.
"""

import os
import socket
import subprocess
import sys
import threading

CHUNK_BYTES = 65536


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(CHUNK_BYTES):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def relay(client: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError:
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
    back.start()
    pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def serve(listener: socket.socket, socket_path: str) -> None:
    while True:
        client, _ = listener.accept()
        # What the proxy sends in pieces (a response's head, then its body) goes on at
        # once: Nagle's wait for an ACK would add the client's delayed-ACK 40 ms.
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=relay, args=(client, socket_path), daemon=True).start()


def open_for_run(port: int, socket_path: str) -> None:
    """127.0.0.1:<port>, relayed to the run's egress proxy on the host (a Unix socket in
    its sandbox's own folder), from a thread: the supervisor's, for a run's clients."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    threading.Thread(target=serve, args=(listener, socket_path), daemon=True).start()


def main() -> int:
    port, socket_path, separator, *command = sys.argv[1:]
    if separator != "--" or not command:
        sys.stderr.write(__doc__ or "")
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    threading.Thread(target=serve, args=(listener, socket_path), daemon=True).start()
    proxy = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HTTPS_PROXY": proxy, "https_proxy": proxy, "HTTP_PROXY": proxy}
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
