"""Where mail comes from: mbox (mboxo/mboxrd, plain or gzip), .eml, Maildir,
directories of these, public-inbox v2 git archives (read by ingest.inbox) and stdin.

Everything streams: an archive is read in chunks and yielded one message at a
time, so memory does not grow with the archive.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from abiwatch.ingest.events import (  # noqa: F401 - re-exported: where readers import them from
    Event,
    InboxSlice,
    MboxSlice,
    NotMail,
    RawMail,
    SourceDone,
)
from abiwatch.ingest.gz import GzipDamaged, GzipStream
from abiwatch.ingest.inbox import (  # noqa: F401 - re-exported
    SLICE_MESSAGES,
    inbox_epochs,
    is_bare_epoch,
    iter_inbox_epoch,
    read_inbox_slice,
)

logger = logging.getLogger(__name__)

CHUNK = 4 << 20
# A From_ line must look like one ("From sender date"), so a body line that
# happens to start with "From " in an unquoted mbox does not split a message.
_FROM_LINE = re.compile(rb"^From [^\n]*(?:\d{1,2}:\d\d|\d{4})[^\n]*\n", re.M)
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.M)
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
_SKIP_SUFFIXES = {".json", ".md", ".rst", ".py", ".sh", ".toml", ".yaml", ".yml", ".cfg",
                  ".ini", ".png", ".jpg", ".jpeg", ".gif", ".pdf", ".html", ".css", ".js",
                  ".db", ".sqlite", ".sqlite3", ".pyc", ".lock", ".idx", ".pack"}


SkipCheck = Callable[[str, int, float], bool]


def unquote_mboxrd(data: bytes) -> bytes:
    """Return a message body with mboxrd's '>From ' quoting undone (one '>' removed)."""
    if b">From " not in data:  # every quoted line contains it; most mail has none
        return data
    return _MBOXRD_QUOTED.sub(rb"\1", data)


def _mbox_messages(stream: BinaryIO) -> Iterator[tuple[bytes, int, int, int, bytes | None]]:
    """Split an mbox stream: yield (buf, offset, start, end, from_line) per message.

    buf[start:end] is the message that follows from_line (None for text before the
    first From_ line) and offset is where buf[0] sits in the stream. iter_mbox copies
    the message out; mbox_slices only needs where it starts, so it copies nothing.
    """
    # Candidates are found with bytes.find(b"\nFrom ") (memchr speed) and only then
    # checked with the From_ regex: a regex search anchored with ^ in MULTILINE mode
    # tries every byte of every message. A b"\n" in front of the first chunk makes
    # the start of the file a line start like any other.
    buf = b"\n"
    offset = -1
    pos = 1  # where the current message starts
    scan = 0  # where to look for the next candidate
    from_line: bytes | None = None
    eof = False
    while not eof:
        chunk = stream.read(CHUNK)
        if not chunk:
            eof = True
        buf += chunk
        while True:
            idx = buf.find(b"\nFrom ", scan)
            if idx < 0:
                scan = max(len(buf) - 5, pos - 1)
                break
            start = idx + 1
            if not eof and buf.find(b"\n", start) < 0:
                scan = idx  # the line is not complete yet: read more first
                break
            m = _FROM_LINE.match(buf, start)
            if m is None:  # "From here on..." in an mboxo body
                scan = start
                continue
            yield buf, offset, pos, start, from_line
            from_line = m.group(0)
            pos = m.end()
            scan = pos - 1  # a From_ line may follow at once (an empty message)
        cut = pos - 1  # keep the newline before pos, so a From_ line there is found
        if cut > 0:
            buf = buf[cut:]
            offset += cut
            pos -= cut
            scan = max(scan - cut, 0)
    yield buf, offset, pos, len(buf), from_line


def iter_mbox(stream: BinaryIO, source: str, *, fmt: str = "auto") -> Iterator[RawMail]:
    """Yield the messages of an mbox stream; fmt is 'mboxrd', 'mboxo' or 'auto'."""
    rd: bool | None = None if fmt == "auto" else fmt == "mboxrd"
    for buf, _offset, start, end, from_line in _mbox_messages(stream):
        if from_line is not None:
            if rd is None:
                rd = from_line.startswith(b"From mboxrd@")
            yield _mail(buf[start:end], source, from_line, rd)
        elif buf[start:end].strip():
            # text before the first From_ line: a bare message glued in front
            yield _mail(buf[start:end], source, None, rd)


SLICE_BYTES = 16 << 20  # a slice of a few huge messages stops early, so memory stays flat


def mbox_slices(stream: BinaryIO, source: str, *, fmt: str = "auto",
                messages: int = 1000, max_bytes: int = SLICE_BYTES
                ) -> Iterator[MboxSlice]:
    """Yield consecutive byte ranges of an mbox stream, each of whole messages, covering it all."""
    # A file's format ("auto") is decided by its first From_ line; slices after the
    # first do not start with it, so they are told the format found.
    rest_fmt = fmt
    first = 0  # where the current slice starts
    count = 0
    last = 0  # where the current slice's last message starts
    for buf, offset, start, end, from_line in _mbox_messages(stream):
        if from_line is None:
            if buf[start:end].strip():
                count += 1  # iter_mbox yields it too
            continue
        at = offset + start - len(from_line)
        if count >= messages or (count and at - first >= max_bytes):
            yield MboxSlice(source, first, at, count, fmt if first == 0 else rest_fmt, last)
            first, count = at, 0
        if rest_fmt == "auto":
            rest_fmt = "mboxrd" if from_line.startswith(b"From mboxrd@") else "mboxo"
        count += 1
        last = at
    if count:
        yield MboxSlice(source, first, offset + end, count,  # type: ignore[possibly-undefined]
                        fmt if first == 0 else rest_fmt, last)


def read_slice(piece: MboxSlice) -> Iterator[RawMail | NotMail]:
    """Yield the messages of an mbox slice, as iter_mbox yields them from the whole file."""
    try:
        with open(piece.path, "rb") as f:
            f.seek(piece.start)
            data = f.read(piece.end - piece.start)
    except OSError as exc:
        yield NotMail(piece.path, f"cannot read bytes {piece.start}-{piece.end}: "
                                  f"{exc.strerror or exc}; run the ingest again", "read-error")
        return
    missing = piece.end - piece.start - len(data)
    if not missing:
        yield from iter_mbox(io.BytesIO(data), piece.path, fmt=piece.fmt)
        return
    # the last message read is cut short: leave it to the next run, which reads it whole
    yield from list(iter_mbox(io.BytesIO(data), piece.path, fmt=piece.fmt))[:-1]
    yield NotMail(piece.path, f"the file shrank while it was read ({missing} bytes missing); "
                              "run the ingest again", "read-error")


def _mail(body: bytes, source: str, from_line: bytes | None, rd: bool | None) -> RawMail:
    # The blank line before the next From_ belongs to the mbox format, not the message.
    if body.endswith(b"\n\n"):
        body = body[:-1]
    elif body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if rd:
        body = unquote_mboxrd(body)
    frm = from_line.decode("latin-1").rstrip("\r\n") if from_line else None
    return RawMail(body, source, frm)


def sniff(head: bytes) -> str:
    """Return 'gzip', 'mbox', 'eml' or 'unknown' from the first bytes of a file."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    stripped = head.lstrip(b" \t\r\n")
    if stripped.startswith(b"From "):
        return "mbox"
    first = stripped.split(b"\n", 1)[0]
    if _HEADER_LINE.match(first):
        # a mail header block has several "Name: value" lines early on (a NUL byte in
        # them is damage to record, not a sign of a binary file: see parse_message)
        lines = stripped[:8192].split(b"\n")[:40]
        if sum(1 for ln in lines if _HEADER_LINE.match(ln)) >= 2:
            return "eml"
    return "unknown"


def _read_file(path: Path, fmt: str, slices: int) -> Iterator[Event]:
    source = str(path)
    try:
        st = path.stat()
        with open(path, "rb") as f:
            head = f.read(8192)
            if not head:  # an empty mailbox, or one just created: nothing wrong, nothing to read
                yield SourceDone(source, "empty", st.st_size, st.st_mtime, 0)
                return
            kind = sniff(head)
            gz: GzipStream | None = None
            if kind == "gzip":
                f.seek(0)
                try:
                    head = GzipStream(f).read(8192)
                except GzipDamaged as exc:
                    yield NotMail(source, f"unreadable gzip file: {exc}")
                    return
                kind = sniff(head)
                f.seek(0)
                gz = GzipStream(f)
            else:
                f.seek(0)
            stream: BinaryIO = gz or f  # type: ignore[assignment]
            count = 0
            if kind == "mbox" and slices and gz is None:
                last: MboxSlice | None = None
                for piece in mbox_slices(stream, source, fmt=fmt, messages=slices):
                    if last is not None:
                        count += last.messages
                        yield last
                    last = piece
                if last is not None and (cut := _cut_by_growth(f, last.end, source)):
                    if last.messages > 1:
                        count += last.messages - 1
                        yield MboxSlice(source, last.start, last.last, last.messages - 1,
                                        last.fmt, last.last)
                    yield cut
                    return  # not done: the next run reads it again, with that message whole
                if last is not None:
                    count += last.messages
                    yield last
            elif kind == "mbox":
                held: RawMail | None = None
                try:
                    for mail in iter_mbox(stream, source, fmt=fmt):
                        if held is not None:
                            count += 1
                            yield held
                        held = mail
                except (OSError, EOFError) as exc:
                    # the message being read when the data broke off is not in held: each
                    # message is only yielded once the next From_ line (or the end) is seen
                    if held is not None:
                        yield held
                        count += 1
                    yield NotMail(source, f"archive ends early after {count} messages: {exc}; "
                                          "the message it cuts is left out", "read-error")
                    return
                if held is not None:
                    if gz is None and (cut := _cut_by_growth(f, f.tell(), source)):
                        yield cut
                        return
                    count += 1
                    yield held
            elif kind == "eml":
                raw = stream.read()
                if gz is None and (cut := _cut_by_growth(f, len(raw), source, eml=True)):
                    yield cut
                    return
                count = 1
                yield RawMail(raw, source, None)
            else:
                yield NotMail(source, "not a mail file (no mbox 'From ' line and no mail "
                                      "headers at the start); skipped")
                return
            if gz is not None and gz.damage:
                yield NotMail(source, f"damaged gzip file: {'; '.join(gz.damage)}; all {count} "
                                      "messages in it were read", "damaged")
            yield SourceDone(source, f"{kind}+gzip" if gz is not None else kind, st.st_size,
                             st.st_mtime, count)
    except OSError as exc:
        yield NotMail(source, f"cannot read: {exc.strerror or exc}")


def _cut_by_growth(f: BinaryIO, end: int, source: str, *, eml: bool = False
                   ) -> NotMail | None:
    """Return a notice when the file grew past end (where reading stopped) and, in an
    mbox, the bytes there do not start a new message: the last message read was still
    being written (mail appended during the run). It must not be stored as if whole,
    or the cut copy would stay the message for good and the whole one only a variant."""
    try:
        size = os.fstat(f.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None
    if size <= end:
        return None
    f.seek(max(end - 1, 0))
    after = f.read(1025)
    if not eml and after[:1] == b"\n" and _FROM_LINE.match(after, 1):
        return None  # it ended at a message boundary: what was read is whole
    return NotMail(source, f"the file grew while it was read (mail being "
                   f"appended): its last message, cut at byte {end}, is left for the next run",
                   "growing")


def is_maildir(path: Path) -> bool:
    """Return True for a Maildir folder (has cur/ and new/)."""
    return (path / "cur").is_dir() and (path / "new").is_dir()


def iter_paths(paths: list[str], *, fmt: str = "auto", stdin: BinaryIO | None = None,
               inbox_position: Callable[[str], str | None] = lambda _: None,
               skip_file: SkipCheck = lambda *_: False, slices: int = 0
               ) -> Iterator[Event]:
    """Yield every message (and per-source events) found under the given paths, in order.

    With slices (a number of messages), a plain mbox file comes as MboxSlice byte
    ranges of that many messages (see read_slice), and a public-inbox epoch as
    InboxSlices of that many (see read_inbox_slice), instead of one RawMail per message.
    """
    seen: set[tuple[int, int]] = set()  # (device, inode) of every folder and file walked
    for arg in paths:
        if arg == "-":
            stream = stdin if stdin is not None else io.BufferedReader(io.FileIO(0))
            peek = stream.peek(8192)[:8192] if hasattr(stream, "peek") else b""
            if sniff(peek) == "eml":
                yield RawMail(stream.read(), "<stdin>", None)
            else:
                yield from iter_mbox(stream, "<stdin>", fmt=fmt)
            continue
        yield from _walk(Path(arg), fmt, inbox_position, skip_file, slices, seen)


def _walk(path: Path, fmt: str, inbox_position, skip_file, slices: int,
          seen: set[tuple[int, int]]) -> Iterator[Event]:
    if not path.exists():
        yield NotMail(str(path), "no such file or directory")
        return
    # Each folder and file once per run, known by (device, inode): a symlink loop
    # ("dot -> .", "sub/up -> ..") made the walk endless, and any second way to the same
    # file read it again.
    try:
        st = path.stat()
    except OSError as exc:
        yield NotMail(str(path), f"cannot read: {exc.strerror or exc}")
        return
    if (st.st_dev, st.st_ino) in seen:
        logger.debug("skipping %s: already read in this run (a symlink or a second link)", path)
        return
    seen.add((st.st_dev, st.st_ino))
    if path.is_dir():
        epochs = inbox_epochs(path) or ([path] if is_bare_epoch(path) else [])
        if epochs:
            for ep in epochs:
                yield from _epoch(ep.resolve(), inbox_position, slices)
            return
        if is_maildir(path):
            for sub in ("new", "cur"):
                for f in sorted((path / sub).iterdir()):
                    if f.is_file():
                        yield from _walk(f, fmt, inbox_position, skip_file, slices, seen)
            return
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_file() and child.suffix.lower() in _SKIP_SUFFIXES:
                continue
            yield from _walk(child, fmt, inbox_position, skip_file, slices, seen)
        return
    yield from _file(path.resolve(), fmt, skip_file, slices)


def _epoch(git_dir: Path, inbox_position, slices: int) -> Iterator[Event]:
    events = iter_inbox_epoch(git_dir, inbox_position(str(git_dir)),
                              messages=slices or SLICE_MESSAGES)
    if slices:
        yield from events
        return
    for ev in events:  # without slices, the messages themselves, as for every other source
        if isinstance(ev, InboxSlice):
            yield from read_inbox_slice(ev)
        else:
            yield ev


def _file(path: Path, fmt: str, skip_file: SkipCheck, slices: int) -> Iterator[Event]:
    try:
        st = path.stat()
    except OSError as exc:
        yield NotMail(str(path), f"cannot read: {exc.strerror or exc}")
        return
    if skip_file(str(path), st.st_size, st.st_mtime):
        logger.debug("skipping %s: already ingested, unchanged", path)
        return
    yield from _read_file(path, fmt, slices)


def count_bytes(paths: list[str]) -> int:
    """Return the total size of the files under paths (for a progress bar); 0 if unknown."""
    total = 0
    for arg in paths:
        if arg == "-":
            return 0
        for root, _dirs, files in os.walk(arg) if os.path.isdir(arg) else [("", [], [arg])]:
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
    return total
