"""Length-prefixed JSON frames over pipes, shared by the parent and the sandbox workers.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.  This module
imports only the standard library and no sibling module, because worker processes load it as a
top-level module (see ``worker.py``).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")
# Results carry at most ~10 kB of stdout and a short answer; anything far larger is a hostile
# or broken peer, and refusing it keeps a worker from making its reader buffer gigabytes.
MAX_FRAME = 1 << 20


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame."""


def encode(message: Any) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
    return HEADER.pack(len(body)) + body


def write_frame(fd: int, message: Any) -> None:
    view = memoryview(encode(message))
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None) -> Any:
    """Read one frame; raises EOFError, TimeoutError (past ``deadline``) or ProtocolError."""
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes")
    try:
        return json.loads(_read_exact(fd, size, deadline))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(str(exc)) from None


class FrameBuffer:
    """Incremental decoder for a non-blocking reader (the parent's event loop)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, chunk: bytes) -> list[Any]:
        self._data += chunk
        messages = []
        while len(self._data) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._data)
            if size > MAX_FRAME:
                raise ProtocolError(f"frame of {size} bytes")
            end = HEADER.size + size
            if len(self._data) < end:
                break
            messages.append(json.loads(bytes(self._data[HEADER.size:end])))
            del self._data[:end]
        return messages
