#!/usr/bin/env python3
"""Speed of `abiwatch tag` next to a bare spaCy tokenizer pass, in one run.

Builds a large archive by replicating real threads (the labelled dev/holdout
threads and the bundled sample) with rewritten Message-IDs, so text, quoting
and diffs are real mail; ingests it; then measures

  (a) spacy.blank("en") tokenizing every message's whole body (own text,
      quoted text and diff), in one process, nothing else;
  (b) `abiwatch tag` on the same database (a subprocess: its wall time and
      peak memory), which reads only own text, in 2 worker processes.

    python bench/nlp.py --messages 100000
    python bench/nlp.py --archive ../shared/archives/virtualization   # a real whole list
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = [ROOT / "tests" / "fixtures" / "nlp_devset" / "threads"]
_ID = re.compile(rb"<([^<>@\s]+@[^<>\s]+)>")
_SUBJECT = re.compile(rb"(?im)^subject:[^\n]*(?:\n[ \t][^\n]*)*")


def real_messages() -> list[bytes]:
    from abiwatch.ingest.sources import RawMail, iter_paths

    return [ev.raw for ev in iter_paths([str(p) for p in SOURCES]) if isinstance(ev, RawMail)]


def write_archive(path: Path, n: int) -> int:
    """Write n messages (copies of real threads, ids suffixed per copy) as mboxrd; return bytes."""
    msgs = real_messages()
    written = 0
    with open(path, "wb") as f:
        copy = 0
        while written < n:
            suffix = f".c{copy}".encode()
            for raw in msgs:
                if written >= n:
                    break
                head, sep, body = raw.partition(b"\n\n")
                head = _ID.sub(lambda m, s=suffix: b"<" + m.group(1).replace(b"@", s + b"@", 1) + b">", head)
                # each copy is its own discussion: same shape, different subject
                head = _SUBJECT.sub(lambda m, s=suffix: m.group(0) + b" (" + s[1:] + b")", head, count=1)
                body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
                f.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + head + sep + body + b"\n\n")
                written += 1
            copy += 1
    return path.stat().st_size


def bare_tokenize(db_path: Path) -> tuple[float, int, int]:
    """Return (seconds, messages, words) for spacy.blank('en') over whole bodies."""
    import spacy

    from abiwatch.db import open_db

    db = open_db(db_path, readonly=True)
    nlp = spacy.blank("en")
    rows = db.execute("SELECT m.own_text, m.quoted_text, p.diff FROM messages m "
                      "LEFT JOIN patches p ON p.message_id = m.message_id")
    texts = ["\n".join(t for t in r if t) for r in rows]
    start = time.perf_counter()
    words = 0
    for doc in nlp.tokenizer.pipe(texts, batch_size=256):
        words += len(doc)
    return time.perf_counter() - start, len(texts), words


def run_tag(db_path: Path) -> tuple[float, int, str]:
    """Return (seconds, peak RSS in MB of the tag process and its workers, summary line)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "tag",
                          "--no-progress"], capture_output=True, text=True, cwd=ROOT, check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return seconds, peak, out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--archive", type=Path, default=None,
                    help="tag this real archive (any form `abiwatch ingest` reads) instead")
    ap.add_argument("--keep", action="store_true", help="keep the temporary archive and database")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="abiwatch-nlp-bench-"))
    db_path = tmp / "bench.db"
    if args.archive:
        archive = args.archive.resolve()
        print(f"archive: {archive.name} (real, whole)")
    else:
        archive = tmp / "archive.mbox"
        size = write_archive(archive, args.messages)
        print(f"archive: {args.messages} messages, {size / 1e6:.0f} MB (real threads replicated)")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "abiwatch.bot.cli", "--db", str(db_path), "ingest", str(archive),
                    "--no-progress"], cwd=ROOT, check=True, capture_output=True)
    print(f"ingest: {time.perf_counter() - t0:.1f}s")
    bare_s, n, tokens = bare_tokenize(db_path)
    tag_s, peak, summary = run_tag(db_path)
    from abiwatch.db import open_db

    db = open_db(db_path, readonly=True)
    own_tokens = db.execute("SELECT SUM(LENGTH(own_text) - LENGTH(REPLACE(own_text, ' ', '')) + 1) "
                            "FROM messages").fetchone()[0] or 0
    print(f"bare spaCy tokenizer, whole bodies, 1 process: {bare_s:.1f}s  "
          f"{n / bare_s:,.0f} msg/s  {tokens / bare_s:,.0f} tokens/s")
    print(f"abiwatch tag (own text only, 2 workers, incl. linking and resolution): {tag_s:.1f}s  "
          f"{n / tag_s:,.0f} msg/s  {own_tokens / tag_s:,.0f} own-text words/s  peak RSS {peak} MB")
    print(f"ratio tag / bare tokenizer: {tag_s / bare_s:.2f}x  (bar: <= 1x)")
    print(f"tag said: {summary}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp)
    else:
        print(f"kept {tmp}")


if __name__ == "__main__":
    main()
