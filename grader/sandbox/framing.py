"""Length-prefixed frames of wire-encoded dicts: the one format both sides of the
sandbox's pipes speak. The parent bounds every reply's size before reading it and
wire.decode bounds its nesting, so nothing the child sends is trusted."""
from __future__ import annotations

import struct

from .. import wire
from .posix import read_exact, write_all

LEN = struct.Struct("<Q")


def encode(obj, max_bytes: int) -> bytes:
    """One frame; raises wire.TooLarge past max_bytes."""
    data = wire.encode(obj, max_bytes=max_bytes - LEN.size)
    return LEN.pack(len(data)) + data


def send(fd: int, obj, max_bytes: int) -> None:
    write_all(fd, encode(obj, max_bytes))


def receive_blocking(fd: int, max_bytes: int):
    """The child's side: the next request, or None at EOF."""
    head = read_exact(fd, LEN.size)
    if head is None:
        return None
    n = LEN.unpack(head)[0]
    if n > max_bytes:
        return None
    body = read_exact(fd, n)
    return None if body is None else wire.decode(body, max_bytes=max_bytes)


class Reader:
    """The parent's side: bytes in, frames out, never more than max_bytes buffered."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk

    def want(self) -> int:
        """How many more bytes the current frame may still take (read no more)."""
        if len(self.buf) < LEN.size:
            return LEN.size - len(self.buf)
        return max(1, LEN.size + LEN.unpack_from(self.buf)[0] - len(self.buf))

    def next(self):
        """("reply", obj) | ("bad_output", why) | None (need more bytes)."""
        buf = self.buf
        if len(buf) < LEN.size:
            return None
        n = LEN.unpack_from(buf)[0]
        if n > self.max_bytes:
            return ("bad_output", f"the sandbox sent an oversized reply "
                                  f"({n} bytes; at most {self.max_bytes >> 20} MiB)")
        if len(buf) < LEN.size + n:
            return None
        body = bytes(buf[LEN.size:LEN.size + n])
        del buf[:LEN.size + n]
        try:
            return ("reply", wire.decode(body, max_bytes=self.max_bytes))
        except wire.WireError as e:
            return ("bad_output", f"the sandbox sent malformed data ({e})")
