#!/usr/bin/env python3
"""Speed and memory of `abiwatch ingest` next to a bare stdlib parse, in one run.

Generates a large LKML-like mboxrd archive (default 100,000 messages, ~500 MB)
in a temporary directory, from pieces of the real mail under ../shared/data:
real Received chains and list headers, real names and addresses, real
paragraphs, real diffs with their diffstat, real subjects. Threads carry
In-Reply-To/References, replies quote their parent with an attribution line,
patch series have cover letters, parts and later versions, and a share of the
mail has odd dates, RFC 2047 names and subjects and non-UTF-8 bodies.

Then, in the same run, it measures

  (a) a bare parse: the file split into messages and each parsed with
      email.parser.BytesParser(policy=compat32).parsebytes, nothing stored;
  (b) `abiwatch ingest` of the same file into a fresh database (subprocess),

each as messages/s, MB/s and peak RSS, and the ratio (b)/(a). Peak memory of
(b) is measured at two archive sizes (a prefix and the whole) to show it does
not grow with the archive.

    python bench/ingest.py                    # 100,000 messages
    python bench/ingest.py --messages 20000 --keep
    python bench/ingest.py --repeat 3         # alternate (a) and (b) 3 times: the
                                              # machine's speed drifts between runs
    python bench/ingest.py --archive ../shared/archives/virtualization --limit 8000 --repeat 10
        # a real public-inbox archive from git and from an mbox of the same messages,
        # side by side with both floors (see ingest_archive.py)
"""

from __future__ import annotations

import argparse
import email
import email.utils
import io
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import SEPARATOR, bare_cmd, run_measured  # noqa: E402 - bench/ is sys.path[0]

from abiwatch.ingest.sources import iter_mbox  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SOURCES = ["lfdr-virtualization-list", "lfdr-linux-hyperv", "lore-inbox-lkml-2006-2007"]
_OWN_HEADERS = {"date", "from", "to", "cc", "subject", "message-id", "in-reply-to",
                "references", "content-type", "content-transfer-encoding", "mime-version",
                "content-disposition", "reply-to", "x-original-from", "sender", "list-id",
                "x-mailing-list"}
VGER_FOOTER = ('-\nTo unsubscribe from this list: send the line "unsubscribe linux-kernel" '
               "in\nthe body of a message to majordomo@vger.kernel.org\nMore majordomo info "
               "at  http://vger.kernel.org/majordomo-info.html\nPlease read the FAQ at  "
               "http://www.tux.org/lkml/\n")
LATIN = [("Jörg Rödel", "joro@8bytes.example"), ("Rafał Miłecki", "zajec5@example.com"),
         ("Thomas Hellström", "thomas@hellstrom.example"), ("Uwe Kleine-König", "ukl@example.de"),
         ("Ilpo Järvinen", "ilpo@example.fi"), ("Krzysztof Kozłowski", "krzk@example.org")]


# --- harvesting real pieces ------------------------------------------------------

class Pool:
    """Pieces of real mail to build messages from."""

    def __init__(self) -> None:
        self.people: list[tuple[str, str]] = []
        self.extra_headers: list[bytes] = []
        self.paragraphs: list[str] = []
        self.patches: list[tuple[str, str]] = []  # (title, "---\n diffstat\n\ndiff...")
        self.signatures: list[str] = []


def harvest() -> Pool:
    pool = Pool()
    seen_people = set()
    files = [f for d in SOURCES for f in sorted((SHARED / d).rglob("*.mbox"))]
    if not files:
        sys.exit(f"no mail found under {SHARED}: the generator needs ../shared/data")
    for f in files:
        for mail in iter_mbox(io.BytesIO(f.read_bytes()), str(f)):
            _harvest_one(pool, mail.raw, seen_people)
    pool.paragraphs = [p for p in pool.paragraphs if 40 <= len(p) <= 900]
    return pool


def _harvest_one(pool: Pool, raw: bytes, seen: set) -> None:
    end = raw.find(b"\n\n")
    if end < 0:
        return
    head = raw[:end + 1]
    fields, cur = [], b""
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and cur:
            cur += b"\n" + line
            continue
        if cur:
            fields.append(cur)
        cur = line
    if cur:
        fields.append(cur)
    extra = [fl for fl in fields if fl.split(b":", 1)[0].strip().lower().decode(
        "latin-1") not in _OWN_HEADERS]
    pool.extra_headers.append(b"\n".join(extra[:14]) + b"\n")
    msg = email.message_from_bytes(raw, policy=compat32)
    name, addr = email.utils.parseaddr(str(msg.get("From", "")))
    if addr and " via " not in name and addr not in seen and "@" in addr:
        seen.add(addr)
        pool.people.append((name.strip('"') or addr.split("@")[0], addr.lower()))
    if msg.is_multipart():
        return
    body = (msg.get_payload(decode=True) or b"").decode("utf-8", "replace")
    body = body.split("\n_______________________________________________\n")[0]
    sig = body.rfind("\n-- \n")
    if sig >= 0:
        pool.signatures.append(body[sig + 1:].strip("\n")[:200])
        body = body[:sig]
    subject = " ".join(str(msg.get("Subject", "")).split())
    if "\ndiff --git " in body and "\n---\n" in body and not subject.lower().startswith("re"):
        text, rest = body.split("\n---\n", 1)
        title = re.sub(r"^(\[[^\]]*\]\s*)+", "", subject)
        if title and (" files changed" in rest or " file changed" in rest):
            pool.patches.append((title, "---\n" + rest.strip("\n") + "\n"))
        body = text
    for para in re.split(r"\n\s*\n", body):
        lines = para.strip("\n").split("\n")
        if any(ln.startswith((">", "On ", "diff ", "@@", "+", "-")) for ln in lines[:2]):
            continue
        if all(not ln.startswith(">") for ln in lines):
            pool.paragraphs.append(para.strip("\n"))


# --- generating ------------------------------------------------------------------

class Generator:
    """Writes an LKML-like mboxrd archive from a Pool."""

    def __init__(self, pool: Pool, seed: int = 42):
        self.pool = pool
        self.rnd = random.Random(seed)
        self.clock = datetime(2006, 1, 2, 9, 0, tzinfo=UTC)
        self.n = 0
        self.series_by_title: dict[tuple, int] = {}

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=self.rnd.expovariate(1 / 79))  # ~400k a year
        return self.clock

    def _date(self, dt: datetime) -> str:
        r = self.rnd.random()
        zone = self.rnd.choice([0, 1, 2, -4, -5, -7, -8, 8, 9, 5.5])
        local = dt + timedelta(hours=zone)
        off = f"{'+' if zone >= 0 else '-'}{int(abs(zone)):02d}{int(abs(zone) % 1 * 60):02d}"
        if r < 0.005:
            return local.strftime("%A, %B %d, %Y %I:%M %p")  # Outlook, no zone
        if r < 0.010:
            return local.strftime("%Y-%m-%d %H:%M:%S ") + off  # ISO from a script
        if r < 0.020:
            names = {1: "CET", 2: "CEST", 9: "JST", -8: "PST", -7: "PDT"}
            if zone in names:
                return local.strftime("%a, %d %b %Y %H:%M:%S ") + names[zone]
        if r < 0.030:
            return local.strftime("%a, %d %b %y %H:%M:%S ") + off  # two-digit year
        return local.strftime("%a, %d %b %Y %H:%M:%S ") + off + (
            " (CEST)" if r > 0.97 else "")

    def _person(self) -> tuple[str, str]:
        if self.rnd.random() < 0.04:
            return self.rnd.choice(LATIN)
        return self.rnd.choice(self.pool.people)

    def _addr_header(self, name: str, addr: str, charset: str) -> str:
        if all(ord(c) < 128 for c in name):
            return f'"{name}" <{addr}>' if "." in name or "," in name else f"{name} <{addr}>"
        cs = "iso-8859-1" if charset != "utf-8" and all(ord(c) < 256 for c in name) else "utf-8"
        return f"{Header(name, cs).encode()} <{addr}>"

    def _msgid(self, addr: str, dt: datetime) -> str:
        self.n += 1
        return f"{dt:%Y%m%d%H%M%S}.{self.n}-{self.rnd.randrange(1 << 20):x}@{addr.split('@')[1]}"

    def message(self, *, author, subject, body: str, dt, msgid, parent=None, refs=(),
                cc=(), attach: tuple[str, str] | None = None) -> bytes:
        r = self.rnd.random()
        charset = "utf-8" if r < 0.6 else ("us-ascii" if r < 0.9 else
                                           self.rnd.choice(["iso-8859-1", "windows-1252",
                                                            "iso-8859-2"]))
        try:
            body_bytes = body.encode(charset if charset != "us-ascii" else "ascii")
        except UnicodeEncodeError:
            charset, body_bytes = "utf-8", body.encode("utf-8")
        qp = self.rnd.random() < 0.05
        h = [self.rnd.choice(self.pool.extra_headers).decode("latin-1")]
        if self.rnd.random() > 0.003:
            h.append(f"Date: {self._date(dt)}\n")
        h.append(f"From: {self._addr_header(*author, charset)}\n")
        to = self.rnd.choice(["linux-kernel@vger.kernel.org",
                              "virtualization@lists.linux-foundation.org"])
        h.append(f"To: {to}\n")
        if cc:
            h.append("Cc: " + ",\n\t".join(self._addr_header(n, a, "ascii") for n, a in cc)
                     + "\n")
        if any(ord(c) > 127 for c in subject):
            h.append(f"Subject: {Header(subject, 'utf-8').encode()}\n")
        else:
            h.append(f"Subject: {subject}\n")
        h.append(f"Message-ID: <{msgid}>\n")
        if parent:
            h.append(f"In-Reply-To: <{parent}>\n")
        if refs:
            h.append("References: " + "\n ".join(f"<{x}>" for x in refs[-12:]) + "\n")
        h.append("MIME-Version: 1.0\n")
        if attach:
            b = f"abiwatch-{self.n:x}"
            h.append(f'Content-Type: multipart/mixed; boundary="{b}"\n')
            head = "".join(h).encode("utf-8")
            name, patch = attach
            parts = (f"--{b}\nContent-Type: text/plain; charset={charset}\n"
                     f"Content-Transfer-Encoding: 8bit\n\n").encode() + body_bytes + (
                f"\n--{b}\nContent-Type: text/x-patch; name=\"{name}\"\n"
                f"Content-Disposition: attachment; filename=\"{name}\"\n\n{patch}\n"
                f"--{b}--\n").encode()
            return head + b"\n" + parts
        h.append(f"Content-Type: text/plain; charset={charset}\n")
        if qp:
            import quopri

            h.append("Content-Transfer-Encoding: quoted-printable\n")
            body_bytes = quopri.encodestring(body_bytes)
        else:
            h.append("Content-Transfer-Encoding: 8bit\n")
        return "".join(h).encode("utf-8") + b"\n" + body_bytes

    def _paras(self, k: int) -> str:
        return "\n\n".join(self.rnd.choice(self.pool.paragraphs) for _ in range(k))

    def _quote(self, text: str, who: str, dt: datetime) -> str:
        lines = text.split("\n")
        if len(lines) > 30:
            start = self.rnd.randrange(len(lines) - 20)
            lines = lines[start:start + 20]
        quoted = "\n".join("> " + ln if ln else ">" for ln in lines)
        attribution = f"On {dt:%a, %b %d, %Y at %I:%M:%S%p} +0000, {who} wrote:"
        return f"{attribution}\n{quoted}\n"

    def thread(self) -> list[bytes]:
        """Return the messages of one thread: a discussion or a patch series."""
        if self.rnd.random() < 0.22:
            return self._series()
        author = self._person()
        dt = self._tick()
        mid = self._msgid(author[1], dt)
        title = self.rnd.choice(self.pool.patches)[0] if self.pool.patches else "question"
        subject = self.rnd.choice(["", "", "", "[RFC] ", "Question: "]) + title
        body = self._paras(self.rnd.randint(1, 4))
        root = (mid, author, body, dt, subject)
        return [self.message(author=author, subject=subject, body=body, dt=dt, msgid=mid,
                             cc=self._cc())] + self._replies([root], subject)

    def _cc(self) -> list[tuple[str, str]]:
        return [self._person() for _ in range(self.rnd.randint(0, 9))]

    def _replies(self, parents: list[tuple], subject: str) -> list[bytes]:
        out = []
        nodes = list(parents)
        refs_of = {p[0]: [p[0]] for p in parents}
        for _ in range(min(int(self.rnd.expovariate(1 / 4.5)), 40)):
            pmid, pauthor, pbody, pdt, _ = self.rnd.choice(nodes)
            author = self._person()
            dt = self._tick()
            mid = self._msgid(author[1], dt)
            parts = [self._quote(pbody, pauthor[0], pdt), self._paras(self.rnd.randint(1, 3))]
            if self.rnd.random() < 0.4:
                parts.insert(1, self._quote(pbody, pauthor[0], pdt).split("\n", 1)[1])
                parts.append(self._paras(1))
            if self.rnd.random() < 0.15:
                tr = self.rnd.choice(["Acked-by", "Reviewed-by", "Tested-by"])
                parts.append(f"{tr}: {author[0]} <{author[1]}>")
            if self.rnd.random() < 0.01:
                parts.append("NAK.")
            body = "\n\n".join(parts) + "\n"
            if self.rnd.random() < 0.5:
                body += "\n-- \n" + self.rnd.choice(self.pool.signatures or ["--"]) + "\n"
            if self.rnd.random() < 0.2:
                body += VGER_FOOTER
            prefix = self.rnd.choice(["Re: ", "Re: ", "Re: ", "RE: ", "Re: Re: "])
            refs = refs_of[pmid] + [mid]
            headerless = self.rnd.random() < 0.003  # a reply that lost its headers
            out.append(self.message(author=author, subject=prefix + subject, body=body, dt=dt,
                                    msgid=mid, parent=None if headerless else pmid,
                                    refs=() if headerless else refs_of[pmid],
                                    cc=self._cc()))
            refs_of[mid] = refs
            nodes.append((mid, author, body, dt, subject))
        return out

    def _series(self) -> list[bytes]:
        author = self._person()
        title = self.rnd.choice(self.pool.patches)[0]
        version = self.series_by_title.get((author, title), 0) + 1
        self.series_by_title[(author, title)] = version
        n = self.rnd.choice([1, 1, 2, 3, 4, 5, 7, 12])
        v = f" v{version}" if version > 1 else ""
        rfc = "RFC " if self.rnd.random() < 0.1 else ""
        out, nodes = [], []
        dt = self._tick()
        cover = None
        cc = self._cc()
        if n > 1:
            cover = self._msgid(author[1], dt)
            body = self._paras(self.rnd.randint(2, 4)) + "\n\n" + "\n".join(
                f"  {title[:50]} part {i}" for i in range(1, n + 1)) + "\n"
            subject = f"[{rfc}PATCH{v} 0/{n}] {title}"
            out.append(self.message(author=author, subject=subject, body=body, dt=dt,
                                    msgid=cover, cc=cc))
            nodes.append((cover, author, body, dt, subject))
        for i in range(1, n + 1):
            pdt = dt + timedelta(seconds=i)
            mid = self._msgid(author[1], pdt)
            ptitle, patch = self.rnd.choice(self.pool.patches)
            body = (self._paras(self.rnd.randint(1, 2)) + f"\n\nSigned-off-by: {author[0]} "
                    f"<{author[1]}>\n")
            counter = f" {i}/{n}" if n > 1 else ""
            subject = f"[{rfc}PATCH{v}{counter}] {ptitle if n > 1 else title}"
            attach = None
            if self.rnd.random() < 0.03:
                attach, text = ("0001-fix.patch", patch), body
            else:
                text = body + patch + "-- \n2.39.2\n"
            out.append(self.message(author=author, subject=subject, body=text, dt=pdt,
                                    msgid=mid, parent=cover, refs=[cover] if cover else (),
                                    cc=cc, attach=attach))
            nodes.append((mid, author, text, pdt, subject))
        return out + self._replies(nodes, nodes[-1][4])


def generate(path: Path, messages: int, pool: Pool, seed: int = 42) -> tuple[int, list[int]]:
    """Write at least `messages` messages to path; return (count, byte offset of each)."""
    gen = Generator(pool, seed)
    count, offsets = 0, []
    with open(path, "wb", buffering=1 << 20) as out:
        while count < messages:
            for raw in gen.thread():
                offsets.append(out.tell())
                quoted = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
                out.write(SEPARATOR + quoted + (b"\n" if quoted.endswith(b"\n") else b"\n\n"))
                count += 1
    return count, offsets


# --- measuring -------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--keep", action="store_true", help="keep the archive and databases")
    ap.add_argument("--dir", type=Path, default=None, help="work here instead of a temp dir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure the bare parse and the whole ingest N times, alternating, and "
                         "report every pair's ratio and their median (this machine's speed "
                         "drifts by 15%% from minute to minute)")
    ap.add_argument("--archive", type=Path, default=None,
                    help="instead: a real public-inbox v2 archive, ingested from git and from "
                         "an mbox of the same messages side by side (see ingest_archive.py)")
    ap.add_argument("--limit", type=int, default=None,
                    help="with --archive: only its first N messages (default: all)")
    args = ap.parse_args()
    if args.archive:
        from ingest_archive import run_archive

        run_archive(args)
        return
    work = args.dir or Path(tempfile.mkdtemp(prefix="abiwatch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        pool = harvest()
        archive = work / "lkml-like.mbox"
        count, offsets = generate(archive, args.messages, pool, args.seed)
        size = archive.stat().st_size
        print(f"generated {count:,} messages, {size / 1e6:,.0f} MB in "
              f"{time.perf_counter() - t0:.0f}s from {len(pool.paragraphs):,} real paragraphs, "
              f"{len(pool.patches)} real patches, {len(pool.people)} real senders -> {archive}")

        # a prefix of the same archive, for the memory-vs-size check
        small = work / "prefix.mbox"
        small_n = max(count // 5, 1)
        with open(archive, "rb") as src, open(small, "wb") as dst:
            dst.write(src.read(offsets[small_n] if small_n < len(offsets) else size))
        small_size = small.stat().st_size

        rows = []
        load_before = os.getloadavg()[0]
        secs, rss, cpu, out = run_measured(bare_cmd(str(archive)))
        assert int(out.split()[0]) == count, out
        rows.append(("bare parse (compat32)", count, size, secs, rss, cpu))
        cli = [sys.executable, "-m", "abiwatch.bot.cli"]
        for label, path, n, sz in (("abiwatch ingest (1/5)", small, small_n, small_size),
                                   ("abiwatch ingest", archive, count, size)):
            db = work / f"{path.stem}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            secs, rss, cpu, out = run_measured([*cli, "--db", str(db), "ingest",
                                                "--no-progress", str(path)])
            print(f"  {label}: {out.strip()}")
            rows.append((label, n, sz, secs, rss, cpu))
        load_after = os.getloadavg()[0]
        print()
        print(f"{'':24} {'messages':>9} {'MB':>7} {'seconds':>8} {'msg/s':>8} {'MB/s':>6} "
              f"{'peak RSS MB':>11} {'CPU s':>7} {'CPU ms/msg':>10}")
        for label, n, sz, secs, rss, cpu in rows:
            print(f"{label:24} {n:9,} {sz / 1e6:7,.0f} {secs:8.1f} {n / secs:8,.0f} "
                  f"{sz / 1e6 / secs:6.1f} {rss / 1024:11,.0f} {cpu:7.1f} {cpu / n * 1e3:10.3f}")
        bare, whole = rows[0][3], rows[2][3]
        cores = os.cpu_count() or 1
        print(f"\ningest / bare parse = {whole / bare:.2f}x wall  (bar: <= 2x, aim 1x)")
        print(f"CPU: ingest {rows[2][5]:.0f} s over {cores} cores -> {rows[2][5] / cores / bare:.2f}x "
              f"the bare parse if the cores were free (load average {load_before:.1f} before, "
              f"{load_after:.1f} after: other processes share this machine)")
        print(f"peak RSS at {small_n:,} vs {count:,} messages: {rows[1][4] / 1024:,.0f} MB vs "
              f"{rows[2][4] / 1024:,.0f} MB (largest single process: the writer or a parser)")
        if args.repeat > 1:
            ratios = [whole / bare]
            for i in range(2, args.repeat + 1):
                bare_i = run_measured(bare_cmd(str(archive)))[0]
                db = work / "repeat.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
                whole_i = run_measured([*cli, "--db", str(db), "ingest", "--no-progress",
                                        str(archive)])[0]
                ratios.append(whole_i / bare_i)
                print(f"pair {i}: bare parse {bare_i:.1f} s, ingest {whole_i:.1f} s -> "
                      f"{whole_i / bare_i:.2f}x")
            print(f"ingest / bare parse over {args.repeat} alternating pairs: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)}; median "
                  f"{statistics.median(ratios):.2f}x")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
