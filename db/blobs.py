"""The raw message bytes in raw_messages.raw: compressed on the way in, read back whole.

New rows are zstd frames: zstd compresses mail as tightly as zlib does at about
three times zlib's speed, and compressing every message was a fifth of the
parser's time. Rows written before that are zlib streams; decompress_raw reads
both, telling them apart by the zstd frame magic.
"""

from __future__ import annotations

import zlib

import zstandard

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_compressor: zstandard.ZstdCompressor | None = None


def compress_raw(raw: bytes) -> bytes:
    """Return raw as stored in raw_messages.raw (a zstd frame that records its size)."""
    global _compressor
    if _compressor is None:  # one per process: ingest workers are forked
        # level 1: mail compresses about as well as at the default level 3 (44% of its
        # size against 43%) in two thirds of the time
        _compressor = zstandard.ZstdCompressor(level=1)
    return _compressor.compress(raw)


def decompress_raw(blob: bytes) -> bytes:
    """Return the raw message bytes of a raw_messages.raw value (zstd, or zlib for old rows)."""
    if blob[:4] == _ZSTD_MAGIC:
        return zstandard.decompress(blob)
    return zlib.decompress(blob)
