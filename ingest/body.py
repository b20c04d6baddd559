"""Message bodies: MIME decoding with charset fallbacks, and the split of the
decoded text into the author's own words, quoted text, signature, list footer
and diff.

Everything downstream (trailers, tagging, search) reads `own`: quoted text
belongs to the message it was quoted from.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

from abiwatch.ingest.diff import hunk_size, hunk_step
from abiwatch.ingest.headers import Problems

_PARSER = BytesParser(policy=compat32)
PATCH_TYPES = {"text/x-patch", "text/x-diff", "text/x-diff-plain", "application/x-patch",
               "text/x-diff-git", "application/x-diff"}
_FALLBACK = ("utf-8", "cp1252", "latin-1")


def decode_text(data: bytes, charset: str | None, problems: Problems) -> tuple[str, str]:
    """Return (text, charset used) trying the declared charset, then UTF-8, CP1252, Latin-1."""
    tried = []
    if charset:
        cs = charset.strip().strip('"').lower()
        if cs in ("us-ascii", "ascii", "x-unknown", "unknown-8bit", "unknown", "8bit", "7bit"):
            cs = "utf-8"
        tried.append(cs)
        try:
            return data.decode(cs), cs
        except LookupError:
            problems.add("unknown-charset", cs)
        except UnicodeDecodeError:
            if cs != "utf-8":
                problems.add("invalid-body-bytes", cs)
    for cs in _FALLBACK:
        if cs in tried:
            continue
        try:
            return data.decode(cs), cs
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"  # pragma: no cover - latin-1 never fails


@dataclass
class Body:
    """The decoded text of a message and any patch attachments."""

    text: str
    content_type: str
    charset: str | None
    attached_patches: list[tuple[str, str]] = field(default_factory=list)  # (filename, text)
    forwarded: str = ""


def _param(value: str, name: str) -> str | None:
    m = re.search(rf'{name}\s*=\s*"?([^";\s]+)"?', value, re.I)
    return m.group(1) if m else None


def _strip_html(html: str) -> str:
    html = re.sub(r"(?is)<(script|style).*?</\1>", "", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", html)
    text = re.sub(r"<[^>]+>", "", html)
    for a, b in (("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(a, b)
    return text


def extract_body(content_type: str, transfer_encoding: str, body: bytes, raw: bytes,
                 problems: Problems, disposition: str | None = None) -> Body:
    """Return the message's decoded text; the MIME parser only runs when it must."""
    ctype = content_type.split(";", 1)[0].strip().lower() or "text/plain"
    cte = transfer_encoding.strip().lower()
    if ctype == "text/plain" and cte in ("", "7bit", "8bit", "binary"):
        text, cs = decode_text(body, _param(content_type, "charset"), problems)
        return Body(text, ctype, cs)
    if ctype == "text/plain" and cte == "quoted-printable" and disposition == "" \
            and "name" not in content_type.lower():
        # One quoted-printable text part, not an attachment: what the MIME parser
        # would do, without it (binascii is what quopri uses)
        text, cs = decode_text(binascii.a2b_qp(body), _param(content_type, "charset"),
                               problems)
        return Body(text, ctype, cs)
    try:
        msg = _PARSER.parsebytes(raw)
    except Exception as exc:  # compat32 is lenient, but the fuzz corpus finds ways
        problems.add("mime-parse-error", repr(exc))
        text, cs = decode_text(body, None, problems)
        return Body(text, ctype, cs)
    for defect in msg.defects:
        problems.add("mime-defect", type(defect).__name__)
    return _walk(msg, ctype, problems)


def _payload(part: Message, problems: Problems) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:
        problems.add("bad-transfer-encoding", repr(exc))
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    for defect in getattr(part, "defects", []):
        problems.add("mime-defect", type(defect).__name__)
    return data


def _walk(msg: Message, ctype: str, problems: Problems) -> Body:
    texts: list[str] = []
    htmls: list[str] = []
    patches: list[tuple[str, str]] = []
    forwarded: list[str] = []
    charset_used = None
    stack: list[tuple[Message, bool]] = [(msg, False)]
    while stack:
        part, inside_forward = stack.pop(0)
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                nested = part.get_content_type() == "message/rfc822" or inside_forward
                stack[0:0] = [(p, nested) for p in payload]
            continue
        pct = part.get_content_type()
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = ""
        # str(): compat32 returns a Header object for a value with 8-bit bytes (a filename
        # in Russian), which has no .split and used to lose the whole body
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        data = _payload(part, problems)
        is_patch_file = pct in PATCH_TYPES or filename.endswith((".patch", ".diff"))
        if not (pct.startswith("text/") or is_patch_file):
            continue
        try:
            declared = part.get_content_charset()
        except Exception:
            declared = None
        text, cs = decode_text(data, declared, problems)
        if inside_forward:
            forwarded.append(text)
        elif is_patch_file or (disposition == "attachment" and looks_like_diff(text)):
            patches.append((filename, text))
        elif pct == "text/plain" and disposition != "attachment":
            texts.append(text)
            charset_used = charset_used or cs
        elif pct == "text/html" and disposition != "attachment":
            htmls.append(text)
    if not texts and htmls:
        texts = [_strip_html(h) for h in htmls]
        problems.add("html-only", "text taken from the HTML part")
    return Body("\n".join(texts), ctype, charset_used, patches, "\n".join(forwarded))


# --- splitting the decoded text -------------------------------------------------

_QUOTED = re.compile(r"^[ \t]{0,3}(>|\|>)")
_ATTRIBUTION = re.compile(
    r"(wrote|writes|said|schrieb|a écrit|escribió|ha scritto|napisał)\s*:\s*$"
    r"|^\s*-+\s*original message\s*-+\s*$"
    r"|^\s*from:\s.*\bsent:\s",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"^\s*(on|quoting|le|am|em|il)\s+\S", re.I)
_DIFF_START = re.compile(r"^(diff --git |diff -[a-zA-Z]+ |Index: \S|--- \S|diff \S+ \S+)")
_DIFF_META = re.compile(
    r"^(diff |index |--- |\+\+\+ |new file mode|deleted file mode|old mode|new mode|"
    r"similarity index|dissimilarity index|rename (from|to) |copy (from|to) |Binary files |"
    r"GIT binary patch|literal \d|delta \d|Index: |={20,}|RCS file:|retrieving revision|"
    r"Only in |Property changes on:|___+$)"
)
_DIFFSTAT = re.compile(r"^ \S.*\|\s+(\d+\s*[+-]*|Bin .*)\s*$|^ \d+ files? changed")
# (a string every match contains, the pattern): most mail never reaches the regex
_FOOTERS = [
    ("To unsubscribe from this list:",
     re.compile(r"\n-\s*\nTo unsubscribe from this list:.*\Z", re.S)),
    ("To unsubscribe from this list: send the line",
     re.compile(r"\nTo unsubscribe from this list: send the line.*\Z", re.S)),
    ("_" * 20, re.compile(r"\n_{20,}\s*\n[^\n]*(mailing list|Mailing List)[^\n]*\n.*\Z", re.S)),
    ("You received this message because you are subscribed",
     re.compile(r"\n--\s*\nYou received this message because you are subscribed.*\Z", re.S)),
]


@dataclass
class SplitText:
    """A message text cut into the parts that mean different things."""

    own: str
    quoted: str
    signature: str
    footer: str
    diffs: list[str]
    diffstat: list[str] = field(default_factory=list)


def strip_footer(text: str) -> tuple[str, str]:
    """Return (text without a mailing-list footer, the footer)."""
    for needle, pat in _FOOTERS:
        m = pat.search(text) if needle in text else None
        if m:
            return text[: m.start()], text[m.start():]
    return text, ""


def looks_like_diff(text: str) -> bool:
    """Return True when text contains a unified diff (a file header and a hunk)."""
    return bool(re.search(r"^(\+\+\+ |diff --git )", text, re.M) and re.search(r"^@@ ", text, re.M)) \
        or "GIT binary patch" in text


def _diff_end(lines: list[str], i: int) -> int:
    """Return the index of the first line after the diff starting at lines[i]."""
    n = len(lines)
    old = new = 0
    binary = False
    while i < n:
        line = lines[i]
        if old > 0 or new > 0:
            left = hunk_step(line, old, new)
            if left is None:
                old = new = 0
                continue
            old, new = left
            i += 1
            continue
        if binary:
            if line.strip() == "":
                binary = False
            i += 1
            continue
        size = hunk_size(line)
        if size:
            old, new = size
            i += 1
            continue
        if line.startswith("\\ No newline"):
            i += 1
            continue
        if _DIFF_META.match(line):
            if line.startswith(("GIT binary patch", "literal ", "delta ")):
                binary = True
            i += 1
            continue
        break
    return i


def _is_diff_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if not _DIFF_START.match(line):
        return False
    if line.startswith("diff --git "):
        return True
    window = lines[i + 1:i + 5]
    return any(w.startswith("+++ ") for w in window) or any(w.startswith("@@ ") for w in window)


def split_text(text: str) -> SplitText:
    """Return text cut into own words, quoted text, signature, footer and diffs."""
    if "\r" in text:  # a replace that finds nothing still costs a pass
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text, footer = strip_footer(text)
    lines = text.split("\n")
    n = len(lines)
    kinds = ["own"] * n
    diffs: list[str] = []
    quote_starts: list[int] = []  # the first line of each block of quoted lines
    i = 0
    while i < n:
        line = lines[i]
        c = line[:1]
        if c == ">" or (c in (" ", "\t", "|") and _QUOTED.match(line)):
            if i == 0 or kinds[i - 1] != "quoted":
                quote_starts.append(i)
            kinds[i] = "quoted"
            i += 1
            continue
        if c in ("d", "I", "-") and _is_diff_start(lines, i):
            end = _diff_end(lines, i)
            diffs.append("\n".join(lines[i:end]))
            kinds[i:end] = ["diff"] * (end - i)
            i = max(end, i + 1)
            continue
        i += 1
    _mark_attributions(lines, kinds, quote_starts)
    _mark_outlook_quote(lines, kinds, text)
    if "--" in text:
        _mark_signature(lines, kinds)
    if "|" in text or "changed" in text:  # a diffstat needs one or the other
        _mark_diffstat(lines, kinds)
    parts: dict[str, list[str]] = {"own": [], "quoted": [], "sig": [], "diffstat": []}
    for line, kind in zip(lines, kinds, strict=True):
        bucket = parts.get(kind)
        if bucket is not None:
            bucket.append(line)
    own, quoted, sig = (_join(parts[k]) for k in ("own", "quoted", "sig"))
    return SplitText(own, quoted, sig, footer.strip(), diffs,
                     [d for d in parts["diffstat"] if d.strip() != "---"])


def _mark_attributions(lines: list[str], kinds: list[str], starts: list[int]) -> None:
    # An attribution is the last line with words before a block of quoted lines
    # (blank lines between allowed). Walk from each quote block (starts) back to that line.
    n = len(lines)
    for j in starts:
        i = j - 1
        while i >= 0 and kinds[i] == "own" and not lines[i].strip():
            i -= 1
        if i < 0 or kinds[i] != "own":
            continue
        if _ATTRIBUTION.search(lines[i]):
            kinds[i] = "quoted"
            # "On Mon, Aug 03, 2006 at 03:14:21AM -0700, Zachary Amsden" / "wrote:"
            if i > 0 and kinds[i - 1] == "own" and _ATTRIBUTION_START.match(lines[i - 1]) \
                    and len(lines[i]) < 60:
                kinds[i - 1] = "quoted"
        elif i + 1 < n and _ATTRIBUTION_START.match(lines[i]) and lines[i].rstrip().endswith(","):
            kinds[i] = "quoted"  # "On ... , X <x@y>," then the quote: a clipped attribution


_ORIGINAL_MESSAGE = re.compile(r"^\s*-+\s*Original Message\s*-+\s*$", re.I)
_ORIGINAL_MESSAGE_ANY = re.compile(r"-\s*Original Message\s*-", re.I)


def _mark_outlook_quote(lines: list[str], kinds: list[str], text: str) -> None:
    # Top-posting: after "-----Original Message-----" everything is the old mail.
    if not _ORIGINAL_MESSAGE_ANY.search(text):  # one pass over the text, not a regex a line
        return
    for i, line in enumerate(lines):
        if kinds[i] == "own" and _ORIGINAL_MESSAGE.match(line):
            for k in range(i, len(lines)):
                if kinds[k] == "own":
                    kinds[k] = "quoted"
            return


def _mark_signature(lines: list[str], kinds: list[str]) -> None:
    n = len(lines)
    i = 0
    while i < n:
        if kinds[i] == "own" and lines[i].rstrip() == "--" and (i + 1 < n):
            k = i
            while k < n and kinds[k] == "own" and k - i <= 15:
                kinds[k] = "sig"
                k += 1
            i = k
            continue
        i += 1


def _mark_diffstat(lines: list[str], kinds: list[str]) -> None:
    for i, line in enumerate(lines):
        if kinds[i] == "own" and ("|" in line or "changed" in line) and _DIFFSTAT.match(line):
            kinds[i] = "diffstat"
            # the "---" separator that introduces the diffstat carries no words
            j = i - 1
            while j >= 0 and kinds[j] in ("own", "diffstat") and not lines[j].strip():
                j -= 1
            if j >= 0 and lines[j].strip() == "---" and kinds[j] == "own":
                kinds[j] = "diffstat"


def _join(out: list[str]) -> str:
    if not out:
        return ""
    text = "\n".join(out)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


_BLANK_RUNS = re.compile(r"\n{3,}")
