"""The pipe protocol between the batch and its local workers, and killing a worker's tree.

Kept apart from ``worker`` so the batch process can import it without importing the
module that ``python -m mpgrade.batch.worker`` runs as ``__main__``.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

import psutil

HEADER = struct.Struct("!Q")


def write_frame(stream: IO[bytes], obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(HEADER.pack(len(payload)) + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next object, or raise EOFError when the other side is gone."""
    head = _read_exactly(stream, HEADER.size)
    return pickle.loads(_read_exactly(stream, HEADER.unpack(head)[0]))


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def kill_descendants(pid: int) -> None:
    """SIGKILL every live descendant of ``pid`` (children first found, all killed)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
