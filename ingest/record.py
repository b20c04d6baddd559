"""One raw message in, plain rows out: the pure heart of the ingester.

`parse_message` never raises on bad mail: whatever cannot be parsed is
recorded in `problems` and the rest is kept. It runs in worker processes, so
it returns plain picklable data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_string  # the C one when built
from typing import Any, NamedTuple, Protocol

from abiwatch.db.blobs import compress_raw
from abiwatch.ingest.body import Body, SplitText, extract_body, looks_like_diff, split_text
from abiwatch.ingest.commands import find_commands
from abiwatch.ingest.diff import DiffSummary
from abiwatch.ingest.headers import (
    Problems,
    addresses_in,
    decode_header,
    isoformat,
    mbox_from_date,
    msgids_in,
    normalize_msgid,
    parse_address,
    parse_date,
    received_date,
    split_message,
    synthetic_msgid,
)
from abiwatch.ingest.kind import find_kind, find_link, find_pull_url, find_summary
from abiwatch.ingest.subject import Subject, normalize_title, parse_subject
from abiwatch.ingest.trailers import Trailer, extract_trailers

MAX_REFERENCES = 200  # fuzzed mails carry thousands; real threads never need more


@dataclass
class Parsed:
    """Everything one message contributes to the database."""

    message: dict[str, Any]
    raw: dict[str, Any]
    references: list[str]
    patch: dict[str, Any] | None
    patch_files: list[dict[str, Any]]
    trailers: list[dict[str, Any]]
    list_ids: list[str]
    problems: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # `#abiwatch:` lines, in order


def json_strings(items: list[str] | tuple[str, ...]) -> str:
    """Return json.dumps(list(items)) for a list of strings, without json.dumps' per-call
    encoder set-up (it was 3% of the parse)."""
    return "[" + ", ".join(map(_json_string, items)) + "]"


def list_name_from_header(value: str) -> str | None:
    """Return a list's short name from a List-Id / X-Mailing-List value."""
    value = value.strip()
    if not value:
        return None
    ids = msgids_in(value)
    ident = ids[0] if ids else value.split()[0]
    ident = ident.strip("<>").lower()
    return ident or None


class Header(Protocol):
    """The first value of a named header, decoded; absent when the mail has none."""

    def __call__(self, name: str, absent: Any = "") -> Any: ...


class Sender(NamedTuple):
    raw: str  # the From: header as decoded
    name: str | None
    addr: str | None


class Dated(NamedTuple):
    date: datetime | None
    raw: str | None  # the Date: header as decoded, None when there is none
    source: str  # where the date came from: rfc2822, dateutil, received, mbox_from, none


class ThreadLinks(NamedTuple):
    references: list[str]  # the References chain, In-Reply-To last, never the message itself
    in_reply_to: str | None


def find_headers(raw: bytes, problems: Problems) -> tuple[list[tuple[str, bytes]], bytes]:
    """Return the headers and body bytes of raw (all of it as body when it cannot be split)."""
    try:
        headers, body_bytes = split_message(raw, problems)
    except Exception as exc:  # pragma: no cover - split_message is total
        problems.add("header-split-error", repr(exc))
        headers, body_bytes = [], raw
    if not headers:
        problems.add("no-headers")
    return headers, body_bytes


def header_reader(headers: list[tuple[str, bytes]], problems: Problems) -> Header:
    """Return a function giving a header's first value, decoded (recording its problems)."""
    first: dict[str, bytes] = {}
    for name, value in headers:
        first.setdefault(name, value)

    def h(name: str, absent: Any = "") -> Any:
        v = first.get(name)
        return decode_header(v, problems) if v is not None else absent
    return h


def find_message_id(h: Header, raw: bytes, problems: Problems) -> tuple[str, bool]:
    """Return the Message-ID and whether it was made up (synthetic) for lack of one."""
    raw_mid = h("message-id")
    mid = normalize_msgid(raw_mid)
    if mid and len(mid) > 900:
        problems.add("message-id-too-long", mid[:80])
        mid = mid[:900]
    if not mid:
        problems.add("missing-message-id", raw_mid[:200])
        return synthetic_msgid(raw), True
    return mid, False


def find_sender(h: Header, problems: Problems) -> Sender:
    """Return who sent the mail: the original sender behind a mailing list's rewrite."""
    from_raw = h("from")
    from_name, from_addr, obfuscated = parse_address(from_raw)
    if from_name and " via " in from_name:
        # Mailman's DMARC rewrite: "X via Virtualization <list@...>", the sender in Reply-To.
        original = h("x-original-from") or h("reply-to")
        o_name, o_addr, _ = parse_address(original)
        if o_addr and "," not in original:
            from_name, from_addr = o_name or from_name.rsplit(" via ", 1)[0], o_addr
    if obfuscated:
        problems.add("obfuscated-address", from_raw)
    if not from_raw:
        problems.add("missing-from")
    return Sender(from_raw, from_name, from_addr)


def find_date(headers: list[tuple[str, bytes]], h: Header, problems: Problems,
              mbox_from: str | None, now: datetime) -> Dated:
    """Return when the mail was sent: its Date:, else the last hop's Received:, else the
    mbox From_ line."""
    date_raw = h("date", None)
    dt, how = parse_date(date_raw, now=now)
    if dt is not None:
        if how != "rfc2822":
            problems.add("date-repaired", f"{date_raw!r} parsed by dateutil")
        return Dated(dt, date_raw, how)
    if date_raw:
        problems.add("bad-date", date_raw)
    else:
        problems.add("missing-date")
    received = [v for k, v in headers if k == "received"]
    if received:
        # The first Received: header is the last hop, closest to the archive.
        dt, _ = parse_date(received_date(decode_header(received[0], problems)), now=now)
        if dt is not None:
            return Dated(dt, date_raw, "received")
    dt, _ = parse_date(mbox_from_date(mbox_from), now=now)
    if dt is not None:
        return Dated(dt, date_raw, "mbox_from")
    return Dated(None, date_raw, "none")


def find_thread_links(h: Header, mid: str, problems: Problems) -> ThreadLinks:
    """Return the messages this one answers: References (capped) with In-Reply-To last."""
    in_reply_to = msgids_in(h("in-reply-to"))
    refs = msgids_in(h("references"))
    if len(refs) > MAX_REFERENCES:
        problems.add("too-many-references", str(len(refs)))
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    refs = [r for r in refs if r != mid]
    irt = in_reply_to[0] if in_reply_to and in_reply_to[0] != mid else None
    if irt and irt not in refs:
        refs = refs + [irt]
    return ThreadLinks(refs, irt)


def find_body(h: Header, body_bytes: bytes, raw: bytes, problems: Problems) -> Body:
    """Return the decoded body; one that cannot be decoded is empty (the headers still count)."""
    try:
        return extract_body(h("content-type"), h("content-transfer-encoding"), body_bytes, raw,
                            problems, h("content-disposition"))
    except Exception as exc:
        problems.add("body-error", repr(exc))
        return Body("", "text/plain", None, [], "")


def find_diffs(split: SplitText, body: Body) -> list[str]:
    """Return the diffs in the text, then those in attachments."""
    return list(split.diffs) + [text for _name, text in body.attached_patches if looks_like_diff(text)]


def find_quoted(split: SplitText, body: Body) -> str:
    """Return the quoted text, with a forwarded message counted as quoted."""
    if body.forwarded:
        return (split.quoted + "\n\n" + body.forwarded).strip()
    return split.quoted


def find_lists(h: Header) -> list[str]:
    """Return the list the mail came through, as its List-Id or X-Mailing-List names it."""
    for hdr in ("list-id", "x-mailing-list"):
        name = list_name_from_header(h(hdr))
        if name:
            return [name]
    return []


def find_content_key(sender: Sender, subject: str, dated: Dated, split: SplitText,
                     quoted: str, diffs: list[str]) -> str:
    """Return a hash of what the mail says, to tell a resend of the same mail (another
    list, another file) from a different mail under the same Message-ID."""
    return hashlib.sha256(
        "\x00".join([sender.addr or sender.raw, subject, dated.raw or "", split.own, quoted,
                     "\n".join(diffs)]).encode("utf-8", "surrogatepass")
    ).hexdigest()


def build_message(mid: str, synthetic: bool, subject: str, subj: Subject, sender: Sender,
                  dated: Dated, h: Header, links: ThreadLinks, kind: str | None,
                  diffs: list[str], split: SplitText, quoted: str, body: Body,
                  content_key: str, sha: str) -> dict[str, Any]:
    """Return the messages row."""
    return {
        "message_id": mid,
        "synthetic_id": int(synthetic),
        "subject": subject or None,
        "norm_subject": normalize_title(subj.title) or None,
        "subject_title": subj.title or None,
        "subject_version": subj.version,
        "subject_is_patch": int(subj.is_patch),
        "from_name": sender.name,
        "from_addr": sender.addr,
        "from_raw": sender.raw or None,
        "date": isoformat(dated.date),
        "date_raw": dated.raw,
        "date_source": dated.source,
        "to_addrs": ", ".join(addresses_in(h("to"))) or None,
        "cc_addrs": ", ".join(addresses_in(h("cc"))) or None,
        "in_reply_to": links.in_reply_to,
        "references_json": json_strings(links.references) if links.references else None,
        "is_reply": int(subj.is_reply or bool(links.in_reply_to)),
        "is_patch": int(kind is not None),
        "has_diff": int(bool(diffs)),
        "own_text": split.own,
        "quoted_text": quoted or None,
        "signature": split.signature or None,
        "content_type": body.content_type,
        "charset": body.charset,
        "content_key": content_key,
        "raw_sha256": sha,
    }


def build_patch(mid: str, kind: str | None, subj: Subject, summary: DiffSummary | None,
                trailers: list[Trailer], link: str | None,
                diffs: list[str]) -> dict[str, Any] | None:
    """Return the patches row, or None when the mail is not a patch."""
    if kind is None:
        return None
    return {
        "message_id": mid,
        "kind": kind,
        "title": subj.title,
        "version": subj.version,
        "part": subj.counter,
        "total": subj.total,
        "is_rfc": int(subj.is_rfc),
        "prefixes": json_strings(subj.prefixes),
        "files_changed": len(summary.files) if summary else 0,
        "insertions": summary.insertions if summary else 0,
        "deletions": summary.deletions if summary else 0,
        "change_id": next((t.value for t in trailers if t.name == "change-id"), None),
        "pull_url": link,
        "diff": "\n".join(diffs) or None,
    }


def build_patch_files(mid: str, kind: str | None,
                      summary: DiffSummary | None) -> list[dict[str, Any]]:
    """Return the patch_files rows of a patch: one a file it changes."""
    if kind is None or not summary:
        return []
    return [{"message_id": mid, "path": f.path, "insertions": f.insertions,
             "deletions": f.deletions} for f in summary.files.values()]


def build_trailers(mid: str, trailers: list[Trailer]) -> list[dict[str, Any]]:
    """Return the trailers rows."""
    return [{"message_id": mid, "name": t.name, "value": t.value,
             "person_name": t.person_name, "person_addr": t.person_addr} for t in trailers]


def build_raw(raw: bytes, sha: str, mid: str, source: str | None,
              mbox_from: str | None) -> dict[str, Any]:
    """Return the raw_messages row: the mail as it came, compressed."""
    return {"sha256": sha, "message_id": mid, "raw": compress_raw(raw), "size": len(raw),
            "source": source, "mbox_from": mbox_from}


def parse_message(raw: bytes, *, source: str | None = None, mbox_from: str | None = None,
                  now: datetime | None = None) -> Parsed:
    """Return the rows for one raw RFC 822 message; problems are recorded, never raised."""
    now = now or datetime.now(UTC)
    problems = Problems()
    sha = hashlib.sha256(raw).hexdigest()
    headers, body_bytes = find_headers(raw, problems)
    h = header_reader(headers, problems)
    # the calls below decode headers in the order the problems were always recorded in
    mid, synthetic = find_message_id(h, raw, problems)
    subject = h("subject")
    subj = parse_subject(subject)
    sender = find_sender(h, problems)
    dated = find_date(headers, h, problems, mbox_from, now)
    links = find_thread_links(h, mid, problems)

    body = find_body(h, body_bytes, raw, problems)
    split = split_text(body.text)
    diffs = find_diffs(split, body)
    quoted = find_quoted(split, body)
    pull = find_pull_url(subj, subject, split.own)
    trailers = extract_trailers(split.own, (sender.name, sender.addr))
    kind = find_kind(subj, pull, diffs, split, body, trailers)
    summary = find_summary(diffs, kind, split.diffstat)
    lists = find_lists(h)
    content_key = find_content_key(sender, subject, dated, split, quoted, diffs)
    # before problems are read: decoding To: and Cc: can add some
    message = build_message(mid, synthetic, subject, subj, sender, dated, h, links, kind,
                            diffs, split, quoted, body, content_key, sha)
    return Parsed(
        message=message,
        raw=build_raw(raw, sha, mid, source, mbox_from),
        references=links.references,
        patch=build_patch(mid, kind, subj, summary, trailers,
                          find_link(kind, pull, split.own), diffs),
        patch_files=build_patch_files(mid, kind, summary),
        trailers=build_trailers(mid, trailers),
        list_ids=lists,
        problems=list(problems.items),
        commands=find_commands(split.own),
    )
