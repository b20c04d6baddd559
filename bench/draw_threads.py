#!/usr/bin/env python3
"""Draw whole threads at random (seeded) for labelling, and write each as an mbox.

Labelled sets must be drawn, not chosen: a thread picked because it looks
interesting measures nothing about the everyday mix of a list. This reads a
public-inbox archive with `git cat-file --batch`, groups messages into threads
by their References/In-Reply-To roots (the same grouping lore uses), leaves
out threads that share a message with mail already labelled or selected
elsewhere (`--exclude DIR`, repeatable), and writes the drawn threads as
mboxrd files with the messages in date order.

    python bench/draw_threads.py ../shared/archives/virtualization OUT \
        --count 30 --seed 20261205 --exclude ../shared/data --exclude tests/fixtures
"""

from __future__ import annotations

import argparse
import email.parser
import email.utils
import gzip
import mailbox
import random
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_ID = re.compile(r"<([^<>\s]+)>")


def message_ids(value: str | None) -> list[str]:
    return _ID.findall(str(value or ""))


def archive_blobs(inbox: Path):
    """Yield the raw bytes of every message of a public-inbox v2 archive, oldest epoch first."""
    for git_dir in sorted((inbox / "git").glob("*.git"), key=lambda p: int(p.stem)):
        revs = subprocess.run(["git", "--git-dir", str(git_dir), "rev-list", "--reverse", "HEAD"],
                              check=True, capture_output=True, text=True).stdout.split()
        proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # fed from a thread: cat-file's output would fill the pipe while we still write
        feeder = threading.Thread(target=_feed, args=(proc.stdin, revs))
        feeder.start()
        for _ in revs:
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] != b"blob":
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield data
        feeder.join()
        proc.wait()


def _feed(pipe, revs: list[str]) -> None:
    pipe.write("".join(f"{r}:m\n" for r in revs).encode())
    pipe.close()


def _mbox_messages(path: Path):
    """The messages of an mbox file, gzipped or not."""
    if path.suffix != ".gz":
        return mailbox.mbox(str(path))
    with tempfile.NamedTemporaryFile(suffix=".mbox") as tmp:
        tmp.write(gzip.decompress(path.read_bytes()))
        tmp.flush()
        return list(mailbox.mbox(tmp.name))


def known_ids(paths: list[Path]) -> set[str]:
    """Message-IDs of every message in the mbox/eml files under the given folders."""
    out: set[str] = set()
    parser = email.parser.BytesHeaderParser()
    for root in paths:
        for f in root.rglob("*"):
            if f.name.endswith((".mbox", ".mbox.gz")):
                for msg in _mbox_messages(f):
                    out.update(message_ids(msg.get("Message-ID")))
            elif f.suffix == ".eml":
                out.update(message_ids(parser.parsebytes(f.read_bytes()).get("Message-ID")))
    return out


def threads_of(blobs) -> dict[str, list[tuple[str, str, bytes]]]:
    """Group messages by thread root: (date, message id, raw) lists keyed by root id."""
    parser = email.parser.BytesHeaderParser()
    parent: dict[str, str] = {}
    msgs: dict[str, tuple[str, bytes]] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for raw in blobs:
        h = parser.parsebytes(raw)
        ids = message_ids(h.get("Message-ID"))
        if not ids or ids[0] in msgs:
            continue
        mid = ids[0]
        try:
            date = email.utils.parsedate_to_datetime(h.get("Date")).isoformat()
        except (TypeError, ValueError, IndexError):
            date = ""
        msgs[mid] = (date, raw)
        for other in message_ids(h.get("References")) + message_ids(h.get("In-Reply-To")):
            a, b = find(mid), find(other)
            if a != b:
                parent[a] = b
    out: dict[str, list[tuple[str, str, bytes]]] = {}
    for mid, (date, raw) in msgs.items():
        out.setdefault(find(mid), []).append((date, mid, raw))
    for v in out.values():
        v.sort()
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "thread"


def write_mbox(path: Path, msgs: list[tuple[str, str, bytes]]) -> None:
    with path.open("wb") as f:
        for _, _, raw in msgs:
            f.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
            body = re.sub(rb"(?m)^(>*From )", rb">\1", raw.replace(b"\r\n", b"\n"))
            f.write(body if body.endswith(b"\n") else body + b"\n")
            f.write(b"\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inbox", type=Path, help="a public-inbox v2 archive (folder with git/N.git)")
    ap.add_argument("out", type=Path, help="folder to write the drawn threads into")
    ap.add_argument("--count", type=int, required=True, help="how many threads to draw")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--min-messages", type=int, default=2)
    ap.add_argument("--max-messages", type=int, default=30,
                    help="longer threads are left out so a labeller can read each whole (default 30)")
    ap.add_argument("--exclude", type=Path, action="append", default=[],
                    help="leave out threads sharing a message with mail under this folder")
    ap.add_argument("--subject", default=None, metavar="REGEX",
                    help="only threads whose first message's subject matches (case-insensitive)")
    ap.add_argument("--mentions", default=None, metavar="REGEX",
                    help="only threads with a message whose raw text matches (case-insensitive)")
    ap.add_argument("--prefix", default="virt-random")
    args = ap.parse_args(argv)
    taken = known_ids(args.exclude)
    threads = threads_of(archive_blobs(args.inbox))
    parser = email.parser.BytesHeaderParser()
    wanted = re.compile(args.subject, re.I) if args.subject else None
    mention = re.compile(args.mentions.encode(), re.I) if args.mentions else None
    pool = sorted(root for root, msgs in threads.items()
                  if args.min_messages <= len(msgs) <= args.max_messages
                  and not any(mid in taken for _, mid, _ in msgs)
                  and (wanted is None or wanted.search(str(parser.parsebytes(msgs[0][2]).get("Subject") or "")))
                  and (mention is None or any(mention.search(raw) for _, _, raw in msgs)))
    print(f"{len(threads)} threads, {len(pool)} eligible", file=sys.stderr)
    drawn = random.Random(args.seed).sample(pool, args.count)
    args.out.mkdir(parents=True, exist_ok=True)
    for root in drawn:
        msgs = threads[root]
        first = parser.parsebytes(msgs[0][2])
        subject = str(first.get("Subject") or "")
        name = f"{args.prefix}-{msgs[0][0][:10].replace('-', '')}-{slug(subject)}.mbox"
        write_mbox(args.out / name, msgs)
        print(f"{len(msgs):3d} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
