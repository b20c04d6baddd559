"""What reading sources yields: messages, slices of archives for a parse worker to
read, and the events that record how far a source was read.

Kept apart from the readers so that the mbox reader (sources) and the public-inbox
reader (inbox) can both use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RawMail:
    """One message's bytes and where it was found."""

    raw: bytes
    source: str
    mbox_from: str | None = None


@dataclass
class NotMail:
    """A path that could not be read as mail; the run goes on."""

    source: str
    reason: str
    # "read-error": part of a file that was mail could not be read, so the file must
    # not be recorded as done (the next run reads it again); "damaged": every message
    # was read but the file is damaged after them (a gzip trailer); "growing": not a
    # failure, the file was being appended to and its last message is left for the
    # next run
    kind: str = "not-mail"


@dataclass
class MboxSlice:
    """Whole messages of a plain mbox file, by byte range, for whoever parses them to read.

    Ingest hands these to whoever parses (a worker, in a parallel run) instead of the
    messages themselves: the main process then only finds where messages start, and the
    bytes never travel through a pipe. read_slice yields exactly what iter_mbox yields
    for that range.
    """

    path: str
    start: int
    end: int
    messages: int
    fmt: str  # for iter_mbox: only a file's first slice may still say "auto"
    last: int = 0  # where the From_ line of its last message starts


@dataclass
class InboxSlice:
    """Consecutive commits of a public-inbox epoch, for whoever parses them to read.

    The public-inbox counterpart of MboxSlice: the main process only lists commits and
    their blobs (one `git log | git cat-file --batch-check` pipeline per epoch); the
    worker that parses reads the blobs with its own `git cat-file --batch`, so no
    message travels through a pipe between processes. read_inbox_slice yields the
    messages and then the slice's checkpoint (a SourceDone up to `commit`), so that a
    batch and the checkpoint that covers it are written in one transaction.
    """

    git_dir: str
    blobs: list[tuple[str, str]]  # (blob id, commit) of each message, oldest first
    commit: str  # the slice's last commit, deletion commits included: its checkpoint

    @property
    def messages(self) -> int:
        return len(self.blobs)


@dataclass
class SourceDone:
    """A file (or an inbox epoch up to a commit) has been read to the end."""

    path: str
    kind: str
    size: int | None = None
    mtime: float | None = None
    messages: int = 0
    git_commit: str | None = None


# MboxSlice and InboxSlice only from iter_paths(slices=N)
Event = RawMail | NotMail | SourceDone | MboxSlice | InboxSlice
