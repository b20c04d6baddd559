"""A gzip reader that keeps every whole message of a damaged file: damage after the
compressed data (a bad CRC, a missing trailer, trailing garbage) loses nothing, and
corrupt data keeps what was decoded before it; what was wrong is said, not raised
past the reader."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO


class GzipDamaged(OSError):
    """Compressed data that ends early or cannot be inflated: what follows is lost."""


_GZ_INPUT = 1 << 20  # compressed bytes read at a time
_OUT = 4 << 20  # decompressed bytes handed on at a time, as the mbox reader reads them


def _gzip_header_end(buf: bytes) -> int | None:
    """Return where a gzip member's data starts after its header in buf; None if cut short."""
    if buf[2] != 8:
        raise GzipDamaged(f"unknown gzip compression method {buf[2]}")
    flags, pos = buf[3], 10
    if flags & 4:  # FEXTRA
        if len(buf) < pos + 2:
            return None
        pos += 2 + int.from_bytes(buf[pos:pos + 2], "little")
    for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            nul = buf.find(b"\0", pos)
            if nul < 0:
                return None
            pos = nul + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos if pos <= len(buf) else None


def _gunzip(f: BinaryIO, damage: list[str]) -> Iterator[bytes]:
    """Yield the decompressed data of every member of a gzip file, block by block.

    Python's GzipFile cannot tell damage *after* the data (a CRC or length mismatch,
    a missing trailer, garbage after the last member) from damage *in* it: it raises
    either way, and the last whole message was dropped on every run. Here the
    deflate stream is inflated raw and the trailer checked by hand: damage after
    the data is appended to damage (every message was read), while compressed data
    that ends early or is corrupt raises GzipDamaged once everything before it has
    been yielded, so the message it cuts is not taken for a whole one.
    """
    pending = b""
    at_eof = False

    def more() -> bool:
        nonlocal pending, at_eof
        data = b"" if at_eof else f.read(_GZ_INPUT)
        at_eof = not data
        pending += data
        return bool(data)

    members = 0
    while True:
        # gzip(1) and Python ignore zero padding after a member (tape blocks)
        pending = pending.lstrip(b"\0")
        while not pending and more():
            pending = pending.lstrip(b"\0")
        if not pending:
            return
        while len(pending) < 10 and more():
            pass
        if not pending.startswith(b"\x1f\x8b") or len(pending) < 10:
            if not members:
                raise GzipDamaged("not a gzip file")
            extra, pending = len(pending), b""
            while more():  # count what follows without keeping it
                extra, pending = extra + len(pending), b""
            damage.append(f"{extra} bytes of trailing garbage after the gzip data (ignored)")
            return
        header = _gzip_header_end(pending)
        while header is None and more():
            header = _gzip_header_end(pending)
        if header is None:
            raise GzipDamaged("a gzip member header is cut short")
        data, pending = pending[header:], b""
        inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        crc = size = 0
        while not inflate.eof:
            if not data:
                data = b"" if at_eof else f.read(_GZ_INPUT)
                if not data:
                    raise GzipDamaged("the compressed data ends early: the file is cut short "
                                      "(an interrupted download?)")
            before = inflate.copy()
            try:
                out = inflate.decompress(data, _OUT)
            except zlib.error as exc:
                # one call inflates up to a megabyte of input: the output decoded before
                # the bad spot is lost with the error; feed that input again in small steps
                yield _inflate_until_error(before, data)
                raise GzipDamaged(f"corrupt compressed data ({exc})") from None
            if out:
                crc = zlib.crc32(out, crc)
                size += len(out)
                yield out
            data = inflate.unconsumed_tail
        pending = inflate.unused_data
        members += 1
        while len(pending) < 8 and more():
            pass
        if len(pending) < 8:
            damage.append("the gzip trailer (CRC and length) is missing, so the data could "
                          "not be checked")
            return
        want_crc, want_size = struct.unpack("<II", pending[:8])
        if want_crc != crc:
            damage.append(f"CRC check failed ({crc:#010x} != {want_crc:#010x}): the data may "
                          "be damaged")
        elif want_size != size & 0xFFFFFFFF:
            damage.append(f"length check failed ({size & 0xFFFFFFFF} != {want_size})")
        pending = pending[8:]


def _inflate_until_error(inflate, data: bytes) -> bytes:
    """Return what inflate decodes from data before it fails (the error path only)."""
    out, pos, step = [], 0, 4096
    while pos < len(data):
        before = inflate.copy()
        try:
            out.append(inflate.decompress(data[pos:pos + step]))
        except zlib.error:
            if step == 1:
                break
            inflate, step = before, 1  # the bad piece again, one byte at a time
            continue
        pos += step
    return b"".join(out)


class GzipStream:
    """A read()-able stream over _gunzip. Damage in the data is raised by the read after
    the one that returned the data before it, so every whole message before it is kept."""

    def __init__(self, f: BinaryIO):
        self.damage: list[str] = []
        self._blocks = _gunzip(f, self.damage)
        self._buf = b""
        self._error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        parts, got = [self._buf], len(self._buf)
        if self._error is not None and not got:
            raise self._error
        try:
            while self._error is None and (n < 0 or got < n):
                block = next(self._blocks, None)
                if block is None:
                    break
                parts.append(block)
                got += len(block)
        except GzipDamaged as exc:
            self._error = exc
            if not got:
                raise
        data = b"".join(parts)
        self._buf = data[n:] if 0 <= n < len(data) else b""
        return data[:n] if n >= 0 else data
