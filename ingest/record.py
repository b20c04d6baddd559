"""One raw message in, plain rows out: the pure heart of the ingester.

`parse_message` never raises on bad mail: whatever cannot be parsed is
recorded in `problems` and the rest is kept. It runs in worker processes, so
it returns plain picklable data.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_string  # the C one when built
from typing import Any

from abiwatch.db.blobs import compress_raw
from abiwatch.ingest.body import extract_body, looks_like_diff, split_text
from abiwatch.ingest.commands import find_commands
from abiwatch.ingest.diff import pull_request_url, summarize_diffs, summarize_diffstat
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
from abiwatch.ingest.subject import normalize_title, parse_subject
from abiwatch.ingest.trailers import extract_trailers

_REQUEST_PULL = re.compile(r"are available in the git repository at", re.I)
# How a 2006-style reply says its diff is a new posting of the patch, not a sketch:
# "Updated patch below.", "replacement patch", "take 2", "new version attached".
_REVISION_WORDS = re.compile(
    r"\b(updated|new|revised|replacement|respun|refreshed|fixed|corrected|incremental)"
    r"\s+(patch|version|diff)\b|\bpatch\s+(below|attached|follows)\b|\btake\s+(2|two|3|three)\b",
    re.I)
# "[announce] [patch] ..." with the patches behind a link, not in the mail
_PATCH_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')\]]+", re.I)
# a format-patch embedded after "---" in a reply: its own Subject: names the patch
_EMBEDDED_SUBJECT = re.compile(r"^Subject:\s*(.+)$", re.M)
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


def _first(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    for k, v in headers:
        if k == name:
            return v
    return None


def _all(headers: list[tuple[str, bytes]], name: str) -> list[bytes]:
    return [v for k, v in headers if k == name]


def list_name_from_header(value: str) -> str | None:
    """Return a list's short name from a List-Id / X-Mailing-List value."""
    value = value.strip()
    if not value:
        return None
    ids = msgids_in(value)
    ident = ids[0] if ids else value.split()[0]
    ident = ident.strip("<>").lower()
    return ident or None


def _date(headers, first: dict[str, bytes], problems: Problems, mbox_from: str | None,
          now: datetime):
    raw_date = first.get("date")
    date_raw = decode_header(raw_date, problems) if raw_date is not None else None
    dt, how = parse_date(date_raw, now=now)
    if dt is not None:
        if how != "rfc2822":
            problems.add("date-repaired", f"{date_raw!r} parsed by dateutil")
        return dt, date_raw, how
    if date_raw:
        problems.add("bad-date", date_raw)
    else:
        problems.add("missing-date")
    received = _all(headers, "received")
    if received:
        # The first Received: header is the last hop, closest to the archive.
        dt, _ = parse_date(received_date(decode_header(received[0], problems)), now=now)
        if dt is not None:
            return dt, date_raw, "received"
    dt, _ = parse_date(mbox_from_date(mbox_from), now=now)
    if dt is not None:
        return dt, date_raw, "mbox_from"
    return None, date_raw, "none"


def is_revision(own: str, trailers, title: str) -> bool:
    """Return True when a reply's own diff is a new version of the patch it answers: the
    words around it call it an updated or replacement patch, or it is signed off and
    carries no pasted Subject: of another title (a new patch, not a version of this one).
    A reviewer's "something like this?" sketch is neither and stays a reply."""
    if _REVISION_WORDS.search(own):
        return True
    return any(t.name == "Signed-off-by" for t in trailers) and \
        normalize_title(embedded_title(own) or title) == normalize_title(title)


def embedded_title(own: str) -> str | None:
    """Return the title of a format-patch pasted into a reply ("---", "Subject: ..."), if any."""
    m = _EMBEDDED_SUBJECT.search(own)
    return parse_subject(m.group(1)).title or None if m else None


def _is_announce(prefixes: tuple[str, ...]) -> bool:
    return any(p.lower().startswith("announce") for p in prefixes)


def announced_patch_url(own: str) -> str | None:
    """Return the first link in an announcement's own text (where its patches are)."""
    m = _PATCH_URL.search(own)
    return m.group(0) if m else None


def parse_message(raw: bytes, *, source: str | None = None, mbox_from: str | None = None,
                  now: datetime | None = None) -> Parsed:
    """Return the rows for one raw RFC 822 message; problems are recorded, never raised."""
    now = now or datetime.now(UTC)
    problems = Problems()
    sha = hashlib.sha256(raw).hexdigest()
    try:
        headers, body_bytes = split_message(raw, problems)
    except Exception as exc:  # pragma: no cover - split_message is total
        problems.add("header-split-error", repr(exc))
        headers, body_bytes = [], raw

    first: dict[str, bytes] = {}
    for name, value in headers:
        first.setdefault(name, value)

    def h(name: str) -> str:
        v = first.get(name)
        return decode_header(v, problems) if v is not None else ""

    if not headers:
        problems.add("no-headers")
    raw_mid = h("message-id")
    mid = normalize_msgid(raw_mid)
    synthetic = False
    if mid and len(mid) > 900:
        problems.add("message-id-too-long", mid[:80])
        mid = mid[:900]
    if not mid:
        problems.add("missing-message-id", raw_mid[:200])
        mid = synthetic_msgid(raw)
        synthetic = True

    subject = h("subject")
    subj = parse_subject(subject)
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
    dt, date_raw, date_source = _date(headers, first, problems, mbox_from, now)

    in_reply_to = msgids_in(h("in-reply-to"))
    refs = msgids_in(h("references"))
    if len(refs) > MAX_REFERENCES:
        problems.add("too-many-references", str(len(refs)))
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1):]
    refs = [r for r in refs if r != mid]
    if in_reply_to and in_reply_to[0] != mid and in_reply_to[0] not in refs:
        chain = refs + [in_reply_to[0]]
    else:
        chain = refs
    irt = in_reply_to[0] if in_reply_to and in_reply_to[0] != mid else None

    try:
        body = extract_body(h("content-type"), h("content-transfer-encoding"), body_bytes, raw,
                            problems, h("content-disposition"))
        text, ctype, charset = body.text, body.content_type, body.charset
        attached = body.attached_patches
        forwarded = body.forwarded
    except Exception as exc:  # a body we cannot decode still leaves the headers
        problems.add("body-error", repr(exc))
        text, ctype, charset, attached, forwarded = "", "text/plain", None, [], ""
    split = split_text(text)
    diffs = list(split.diffs)
    for _name, ptext in attached:
        if looks_like_diff(ptext):
            diffs.append(ptext)
    quoted = split.quoted
    if forwarded:
        quoted = (quoted + "\n\n" + forwarded).strip()

    # git request-pull's own words also catch DaveM's "[GIT] Networking" pull requests
    pull = pull_request_url(split.own) if (
        subj.is_pull or "GIT PULL" in subject.upper()
        or (not subj.is_reply and _REQUEST_PULL.search(split.own))) else None
    trailers = extract_trailers(split.own, (from_name, from_addr))
    kind = None
    if not subj.is_reply and not subj.is_forward:
        if subj.is_pull or pull:
            kind = "pull"
        elif diffs:
            kind = "attachment" if attached and not split.diffs else "diff"
        elif subj.is_patch and subj.is_cover:
            kind = "cover"
        elif subj.is_patch and _is_announce(subj.prefixes):
            pull = announced_patch_url(split.own)
            kind = "announce" if pull else None
    elif subj.is_reply and not subj.is_forward and diffs \
            and is_revision(split.own, trailers, subj.title):
        kind = "revision"
    summary = summarize_diffs(diffs) if diffs else None
    if summary is None and kind == "cover" and split.diffstat:
        # a cover letter's diffstat is the series' list of files
        stat = summarize_diffstat(split.diffstat)
        summary = stat if stat.files else None

    change_id = next((t.value for t in trailers if t.name == "change-id"), None)

    lists = []
    for hdr in ("list-id", "x-mailing-list"):
        name = list_name_from_header(h(hdr))
        if name:
            lists.append(name)
            break

    content_key = hashlib.sha256(
        "\x00".join([from_addr or from_raw, subject, date_raw or "", split.own, quoted,
                     "\n".join(diffs)]).encode("utf-8", "surrogatepass")
    ).hexdigest()

    message = {
        "message_id": mid,
        "synthetic_id": int(synthetic),
        "subject": subject or None,
        "norm_subject": normalize_title(subj.title) or None,
        "subject_title": subj.title or None,
        "subject_version": subj.version,
        "subject_is_patch": int(subj.is_patch),
        "from_name": from_name,
        "from_addr": from_addr,
        "from_raw": from_raw or None,
        "date": isoformat(dt),
        "date_raw": date_raw,
        "date_source": date_source,
        "to_addrs": ", ".join(addresses_in(h("to"))) or None,
        "cc_addrs": ", ".join(addresses_in(h("cc"))) or None,
        "in_reply_to": irt,
        "references_json": json_strings(chain) if chain else None,
        "is_reply": int(subj.is_reply or bool(irt)),
        "is_patch": int(kind is not None),
        "has_diff": int(bool(diffs)),
        "own_text": split.own,
        "quoted_text": quoted or None,
        "signature": split.signature or None,
        "content_type": ctype,
        "charset": charset,
        "content_key": content_key,
        "raw_sha256": sha,
    }
    patch = None
    files: list[dict[str, Any]] = []
    if kind is not None:
        patch = {
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
            "change_id": change_id,
            "pull_url": pull,
            "diff": "\n".join(diffs) or None,
        }
        if summary:
            files = [{"message_id": mid, "path": f.path, "insertions": f.insertions,
                      "deletions": f.deletions} for f in summary.files.values()]
    return Parsed(
        message=message,
        raw={"sha256": sha, "message_id": mid, "raw": compress_raw(raw), "size": len(raw),
             "source": source, "mbox_from": mbox_from},
        references=chain,
        patch=patch,
        patch_files=files,
        trailers=[{"message_id": mid, "name": t.name, "value": t.value,
                   "person_name": t.person_name, "person_addr": t.person_addr}
                  for t in trailers],
        list_ids=lists,
        problems=list(problems.items),
        commands=find_commands(split.own),
    )
