"""A MongoDB server that refuses every login, in front of the session's wire server.

The embedded wire server (nx-27017) has no users, so it cannot say "wrong password". This proxy
speaks the wire protocol: it forwards every message to the real server and its answer back,
except a login (`saslStart`, `authenticate`, or a `hello` carrying `speculativeAuthenticate`,
which drivers send first), which it answers the way `mongod` answers a wrong password:
`{ok: 0, code: 18, codeName: "AuthenticationFailed", errmsg: "Authentication failed."}`.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import bson

OP_MSG = 2013
_LOGINS = ("saslstart", "authenticate")
_REFUSED = {"ok": 0.0, "errmsg": "Authentication failed.", "code": 18}
_REFUSED["codeName"] = "AuthenticationFailed"


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _message(conn: socket.socket) -> bytes:
    head = _read(conn, 4)
    (length,) = struct.unpack("<i", head)
    return head + _read(conn, length - 4)


def _command(message: bytes) -> dict[str, object] | None:
    """The command document of an OP_MSG (its body section), else None."""
    _, request_id, _, op_code = struct.unpack("<iiii", message[:16])
    if op_code != OP_MSG or message[20] != 0:
        return None
    (size,) = struct.unpack("<i", message[21:25])
    return bson.decode(message[21 : 21 + size])


def _refusal(request_id: int) -> bytes:
    body = struct.pack("<I", 0) + b"\x00" + bson.encode(_REFUSED)
    return struct.pack("<iiii", 16 + len(body), 0, request_id, OP_MSG) + body


def _serve(client: socket.socket, upstream: tuple[str, int]) -> None:
    with client, socket.create_connection(upstream) as server:
        while True:
            try:
                message = _message(client)
            except (ConnectionError, OSError):
                return
            command = _command(message)
            names = {str(k).lower() for k in command} if command else set()
            if names & set(_LOGINS):
                client.sendall(_refusal(struct.unpack("<i", message[4:8])[0]))
                continue
            if command is not None and "speculativeAuthenticate" in command:
                # a hello that logs in on the way: answer the hello, not the login
                del command["speculativeAuthenticate"]
                body = struct.pack("<I", 0) + b"\x00" + bson.encode(command)
                message = (
                    struct.pack("<iiii", 16 + len(body), *struct.unpack("<iii", message[4:16]))
                    + body
                )
            server.sendall(message)
            client.sendall(_message(server))


@contextmanager
def refusing_logins(upstream_uri: str) -> Iterator[int]:
    """A port where a MongoDB server answers as `upstream_uri`'s does, but refuses logins."""
    host_port = upstream_uri.split("://", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve, args=(client, (host, int(port))), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
