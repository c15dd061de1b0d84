"""The one place that reads W&B's offline run file (`run-<id>.wandb`) itself: W&B has no public reader for it (its
own is in wandb.sdk.internal), and the tests and `src.wandb_log.history` read back what a run will show. The file is
a LevelDB-style log of protobuf records (wandb.proto.wandb_internal_pb2.Record); `tests/test_cli.py` and
`tests/test_trust.py` read real files written by the pinned wandb, so a format change fails there.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

_BLOCK = 32768  # the .wandb file is a LevelDB-style log: 32 KiB blocks of records with 7-byte headers
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: str | Path) -> Iterator:
    """The protobuf records (wandb.proto.wandb_internal_pb2.Record) of one offline run's `run-<id>.wandb` file."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        chunk = data[pos : pos + length]
        pos += length
        if kind == _FULL:
            payload = chunk
        elif kind == _FIRST:
            pending = chunk
            continue
        elif kind == _MIDDLE:
            pending += chunk
            continue
        elif kind == _LAST:
            payload, pending = pending + chunk, b""
        else:  # zero padding at the end of a block
            pos += left - 7 - length
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record
