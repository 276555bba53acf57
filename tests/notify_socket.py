"""A stand-in for systemd's end of the notify protocol: a real Unix datagram socket."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import uuid


class NotifyReceiver:
    """Binds a datagram socket (a path, or an abstract ``@name``) and reads what a Notifier sends.

    SO_PASSCRED is on, as in systemd, so each datagram comes with the sender's PID (what
    ``NotifyAccess=main`` checks).
    """

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._dir = None
        if abstract:
            name = f"dashcart-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            # Short path: sun_path holds only 108 bytes and pytest's tmp_path can be longer.
            self._dir = tempfile.mkdtemp(prefix="sdn-")
            self.env_value = os.path.join(self._dir, "notify")
            self.sock.bind(self.env_value)

    def receive(self, timeout: float = 10.0) -> tuple[str, int]:
        """The next datagram's text and the sender's PID; raises TimeoutError when none came."""
        self.sock.settimeout(timeout)
        try:
            data, ancdata, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except TimeoutError:
            raise TimeoutError("no notify message") from None
        pid = -1
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", payload[:12])
        return data.decode(), pid

    def messages(self) -> list[str]:
        """Every datagram already queued, without waiting."""
        found = []
        self.sock.setblocking(False)
        try:
            while True:
                found.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            return found

    def close(self) -> None:
        self.sock.close()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
