"""Properties of every source kind (mbox, gzip, .eml, Maildir) under random damage:
a random cut (a file still being written, a download broken off) and random bytes
never lose a complete message and never let a cut one pass for whole.

The readers are driven as ingest drives them (plain mbox files as byte-range slices,
read back with read_slice); the writer stores every RawMail they yield, so what they
yield is what the database gets.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import abiwatch.ingest.sources as sources
from abiwatch.ingest.sources import MboxSlice, NotMail, RawMail, iter_mbox, iter_paths, read_slice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
SEPARATOR = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def _pool() -> list[bytes]:
    out = []
    for name in ("lkml-2006-orphan-replies-paravirt-h.mbox", "b4-trailer-on-cover-letter.mbox",
                 "virt-mailman-footer-and-dmarc-from.mbox", "patchwork-git-rename.mbox"):
        data = (FIXTURES / name).read_bytes()
        out += [m.raw for m in iter_mbox(io.BytesIO(data), name) if m.raw.endswith(b"\n")]
    return out


POOL = _pool()
PROPERTY = settings(max_examples=60, deadline=None)
_picks = st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=4)


def _mboxrd(raws: list[bytes]) -> tuple[bytes, list[int]]:
    """Return an mboxrd file of raws and where each message's From_ line starts."""
    out, starts = b"", []
    for raw in raws:
        starts.append(len(out))
        out += SEPARATOR + re.sub(rb"^(>*From )", rb">\1", raw, flags=re.M) + b"\n"
    return out, starts


def _read(paths: list[Path]) -> tuple[list[bytes], list[NotMail]]:
    """Return the raw messages and the problems that ingest's readers yield for paths."""
    raws, problems = [], []
    for ev in iter_paths([str(p) for p in paths], slices=2):
        for item in read_slice(ev) if isinstance(ev, MboxSlice) else [ev]:
            if isinstance(item, RawMail):
                raws.append(item.raw)
            elif isinstance(item, NotMail):
                problems.append(item)
    return raws, problems


def _writer_finishes_after_the_read(mp: pytest.MonkeyPatch, path: Path, rest: bytes) -> None:
    """Append rest to path at the worst moment: after the reader reached the end of the
    file, before it looked whether the file is still growing."""
    real_check = sources._cut_by_growth

    def append_then_check(f, end, source, **kw):
        with open(path, "ab") as out:
            out.write(rest)
        return real_check(f, end, source, **kw)

    mp.setattr(sources, "_cut_by_growth", append_then_check)


def test_the_pool_round_trips_through_an_mboxrd_file():
    data, _ = _mboxrd(POOL)
    assert len(POOL) >= 10
    assert [m.raw for m in iter_mbox(io.BytesIO(data), "x")] == POOL


@PROPERTY
@given(picks=_picks, where=st.floats(0, 1))
def test_mbox_cut_anywhere_while_written_yields_whole_messages_now_and_the_rest_next_run(
        tmp_path_factory, picks, where):
    raws = [POOL[i] for i in picks]
    data, starts = _mboxrd(raws)
    cut = int(len(data) * where)
    path = tmp_path_factory.mktemp("mbox") / "inbox.mbox"
    path.write_bytes(data[:cut])
    with pytest.MonkeyPatch.context() as mp:
        _writer_finishes_after_the_read(mp, path, data[cut:])
        now, _ = _read([path])
    path.write_bytes(data)  # the writer is done (also when the reader stopped before it)
    # messages whose next From_ line was read whole are complete for certain
    certain = sum(1 for nxt in starts[1:] + [None]
                  if (nxt is not None and cut >= nxt + len(SEPARATOR)) or cut == len(data))
    assert now == raws[:len(now)] and len(now) >= certain  # never a cut one
    later, _ = _read([path])
    assert later == raws  # nothing lost: the next run has every message whole


@PROPERTY
@given(picks=_picks, which=st.integers(0, 3), where=st.floats(0, 1),
       junk=st.binary(min_size=1, max_size=64))
def test_mbox_random_bytes_in_one_message_lose_no_other_and_keep_its_own(
        tmp_path_factory, picks, which, where, junk):
    assume(b"From " not in junk)  # a real From_ line in them would split the message
    raws = [POOL[i] for i in picks]
    which %= len(raws)
    raw = raws[which]
    at = 1 + int((len(raw) - 2) * where)  # inside the message, not its first or last byte
    raws[which] = raw[:at] + junk + raw[at:]
    assume(not raws[which].endswith(b"\n\n") or raw.endswith(b"\n\n"))
    data, _ = _mboxrd(raws)
    path = tmp_path_factory.mktemp("mbox") / "damaged.mbox"
    path.write_bytes(data)
    got, problems = _read([path])
    assert got == raws and not problems


def _gz_expected(raws: list[bytes], gz: bytes, cut: int) -> int:
    """Return how many messages are whole in what the first cut bytes of gz decode to:
    those followed by a whole From_ line (all if the compressed data is whole)."""
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate after the 10-byte header
    readable = inflate.decompress(gz[10:cut])
    if inflate.eof:  # only the trailer is cut: the data is whole
        return len(raws)
    _, starts = _mboxrd(raws)
    return sum(1 for nxt in starts[1:] if len(readable) >= nxt + len(SEPARATOR))


@PROPERTY
@given(picks=_picks, where=st.floats(0, 1))
def test_gzip_cut_anywhere_keeps_exactly_the_messages_decoded_whole(tmp_path_factory, picks,
                                                                     where):
    raws = [POOL[i] for i in picks]
    gz = gzip.compress(_mboxrd(raws)[0], mtime=0)
    cut = max(int(len(gz) * where), 12)  # a gzip header's worth: it is still a gzip file
    path = tmp_path_factory.mktemp("gz") / "list.mbox.gz"
    path.write_bytes(gz[:cut])
    got, problems = _read([path])
    assert got == raws[:_gz_expected(raws, gz, cut)]
    assert bool(problems) == (cut < len(gz))


@PROPERTY
@given(picks=_picks, tail=st.one_of(
    st.binary(min_size=1, max_size=64),                      # garbage after the data
    st.sampled_from(["crc", "size", "no-trailer", "half-trailer"])))
def test_gzip_with_random_bytes_after_its_data_keeps_every_message(tmp_path_factory, picks,
                                                                    tail):
    raws = [POOL[i] for i in picks]
    gz = gzip.compress(_mboxrd(raws)[0], mtime=0)
    if isinstance(tail, bytes):
        # bytes that start like another gzip member are read as one: not garbage
        assume(not tail.startswith(b"\x1f\x8b"))
        damaged = gz + tail
    else:
        damaged = {"crc": gz[:-8] + bytes([gz[-8] ^ 0x40]) + gz[-7:],
                   "size": gz[:-1] + bytes([gz[-1] ^ 1]),
                   "no-trailer": gz[:-8], "half-trailer": gz[:-3]}[tail]
    path = tmp_path_factory.mktemp("gz") / "list.mbox.gz"
    path.write_bytes(damaged)
    got, problems = _read([path])
    assert got == raws
    zeros = isinstance(tail, bytes) and not tail.strip(b"\0")  # padding, as gzip(1) allows
    assert [p.kind for p in problems] == ([] if zeros else ["damaged"])


_EML = (FIXTURES / "pi-attached-text-x-patch.eml").read_bytes()


@PROPERTY
@given(where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=16))
def test_eml_with_random_bytes_is_still_one_message_stored_as_it_is(tmp_path_factory, where,
                                                                      junk):
    first = _EML.index(b":") + 1  # the file must still start like mail
    at = first + int((len(_EML) - first) * where)
    raw = _EML[:at] + junk + _EML[at:]
    path = tmp_path_factory.mktemp("eml") / "one.eml"
    path.write_bytes(raw)
    got, problems = _read([path])
    assert (got, problems) == ([raw], [])


@PROPERTY
@given(where=st.floats(0, 1))
def test_eml_cut_anywhere_while_written_is_stored_whole_or_left_for_the_next_run(
        tmp_path_factory, where):
    cut = int(len(_EML) * where)
    path = tmp_path_factory.mktemp("eml") / "one.eml"
    path.write_bytes(_EML[:cut])
    with pytest.MonkeyPatch.context() as mp:
        _writer_finishes_after_the_read(mp, path, _EML[cut:])
        now, _ = _read([path])
    path.write_bytes(_EML)  # the writer is done (also when the reader stopped before it)
    assert now in ([], [_EML])
    assert _read([path])[0] == [_EML]


@PROPERTY
@given(picks=_picks, where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=16),
       cut=st.floats(0, 1))
def test_maildir_reads_every_delivered_message_as_it_is_and_none_being_delivered(
        tmp_path_factory, picks, where, junk, cut):
    root = tmp_path_factory.mktemp("md") / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True)
    raws = [POOL[i] for i in picks]
    first = raws[0].index(b":") + 1
    at = first + int((len(raws[0]) - first) * where)
    raws[0] = raws[0][:at] + junk + raws[0][at:]
    for i, raw in enumerate(raws):
        (root / ("cur" if i % 2 else "new") / f"{i}.host:2,S").write_bytes(raw)
    # a delivery in progress: the agent writes to tmp/ and renames to new/ when done
    arriving = POOL[0]
    (root / "tmp" / "9.host").write_bytes(arriving[:int(len(arriving) * cut)])
    got, problems = _read([root])
    assert sorted(got) == sorted(raws) and not problems
    (root / "tmp" / "9.host").write_bytes(arriving)
    (root / "tmp" / "9.host").rename(root / "new" / "9.host")
    assert sorted(_read([root])[0]) == sorted(raws + [arriving])
