"""The weekly digest: build it from the database (pure) and mail it (SMTP).

`build_digest` only reads the database. `send_digests` does the I/O: it skips
(week, recipient) pairs already sent, sends or writes .eml files, records what
was sent, and keeps going when one recipient fails.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from abiwatch.bot.config import DigestSettings, Settings, SmtpSettings
from abiwatch.bot.digest_content import DigestContent, group
from abiwatch.bot.digest_html import render_html
from abiwatch.bot.digest_render import render_text, subject
from abiwatch.db import digest_queries as q

logger = logging.getLogger(__name__)

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


class DigestError(ValueError):
    """A digest request that cannot be served; the message says what to change."""


def parse_week(text: str) -> tuple[date, date]:
    """Return (Monday, next Monday) of an ISO week written like 2007-W10."""
    m = _WEEK.match(text.strip())
    if not m:
        raise DigestError(f"week must look like 2007-W10 (ISO year and week), not {text!r}")
    try:
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError as exc:
        raise DigestError(f"{text} is not a week of {m[1]}: {exc}") from exc
    return monday, monday + timedelta(days=7)


def last_full_week(today: date) -> tuple[date, date]:
    """Return (Monday, next Monday) of the last ISO week that ended before today."""
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(days=7), this_monday


def period_label(start: date, end: date) -> str:
    """Return "2007-W10" for an ISO week, else "first..last" days of the period."""
    if start.weekday() == 0 and end - start == timedelta(days=7):
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start}..{end - timedelta(days=1)}"


def resolve_interfaces(db: sqlite_utils.Database, names: Sequence[str] | None) -> list[str] | None:
    """Return the database's spelling of each name (any case), None for all; raise if unknown."""
    if not names:
        return None
    known = q.interface_names(db)
    if not known:
        raise DigestError("the database knows no interfaces yet: run `abiwatch tag` first")
    by_lower = {k.lower(): k for k in known}
    unknown = [n for n in names if n.lower() not in by_lower]
    if unknown:
        raise DigestError(f"unknown interface {', '.join(map(repr, unknown))}; known: "
                          f"{', '.join(known)}")
    return [by_lower[n.lower()] for n in names]


def collect(db: sqlite_utils.Database, start: date, end: date,
            interfaces: Sequence[str] | None = None,
            settings: DigestSettings | None = None) -> DigestContent:
    """Return what happened in [start, end) to each series touching the interfaces."""
    s = settings or DigestSettings()
    ifs = resolve_interfaces(db, interfaces)
    a, b = start.isoformat(), end.isoformat()
    rows = {"raised": q.concerns_raised(db, a, b, ifs),
            "resolved": q.concerns_resolved(db, a, b, ifs),
            "open_before": q.concerns_open_before(db, a, b, ifs),
            "versions": q.new_series(db, a, b, ifs),
            "merged": q.series_merged(db, a, b, ifs),
            "trailers": q.notable_trailers(db, a, b, ifs, s.maintainers)}
    everything = [r for rs in rows.values() for r in rs]
    threads = {t["thread_id"]: t for t in q.thread_info(
        db, [r["thread_id"] for r in everything if r.get("thread_id")], b)}
    series = {r["series_id"] for r in everything if r.get("series_id")}
    series |= {t["series_id"] for t in threads.values() if t["series_id"]}
    chains = {c["series_id"]: c for c in q.series_chains(db, sorted(series), b)}
    content = DigestContent(period_label(start, end), start, end, ifs,
                            active_days=s.active_days)
    return group(content, **rows, threads=threads, chains=chains,
                 order=q.interface_names(db), max_open=s.max_open)


def _domain(settings: DigestSettings) -> str:
    m = re.search(r"<([^<>@\s]+)>\s*$", settings.list_id)
    return m[1] if m else "abiwatch.localhost"


def message_id(label: str, recipient: str | None, settings: DigestSettings) -> str:
    """Return the stable Message-ID of the digest for (period, recipient)."""
    who = hashlib.sha256((recipient or "").strip().lower().encode()).hexdigest()[:16]
    # ".." is not allowed in a Message-ID's left part; periods have it.
    return f"<abiwatch-digest.{label.replace('..', '_')}.{who}@{_domain(settings)}>"


def unsubscribe_uri(settings: DigestSettings, recipient: str | None) -> str:
    """Return the List-Unsubscribe URI for a recipient."""
    if settings.unsubscribe:
        return settings.unsubscribe.replace("{recipient}", quote(recipient or "", safe="@"))
    addr = parseaddr(settings.sender)[1]
    return f"mailto:{addr}?subject=" + quote(f"unsubscribe {recipient or ''}".strip())


def build_digest(db: sqlite_utils.Database, week_start: date, week_end: date, *,
                 interfaces: Sequence[str] | None = None, recipient: str | None = None,
                 settings: DigestSettings | None = None) -> EmailMessage:
    """Return the digest mail (text and HTML) for [week_start, week_end); week_end is exclusive."""
    s = settings or DigestSettings()
    content = collect(db, week_start, week_end, interfaces, s)
    content.recipient = recipient
    content.unsubscribe = unsubscribe_uri(s, recipient)
    # Fold headers only past SMTP's hard limit: a List-Unsubscribe or Subject
    # folded at 78 columns starts with whitespace, which strict clients reject.
    msg = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
    msg["From"] = s.sender
    if recipient:
        msg["To"] = recipient
    msg["Subject"] = subject(content, s.subject_prefix)
    msg["Message-ID"] = message_id(content.label, parseaddr(recipient or "")[1], s)
    msg["List-Id"] = s.list_id
    msg["List-Unsubscribe"] = f"<{content.unsubscribe}>"
    # Tell vacation responders and mail filters this is an automatic mail (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Abiwatch-Period"] = content.label
    msg.set_content(render_text(content))
    msg.add_alternative(render_html(content), subtype="html")
    return msg


# --- sending ------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    interfaces: tuple[str, ...] = ()  # empty: all


@dataclass
class Outcome:
    recipient: str
    status: str  # sent | written | skipped | failed
    detail: str = ""
    path: str | None = None
    message: EmailMessage | None = None  # the mail, for dry runs


@dataclass
class SendReport:
    label: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        """Return the recipients that could not be served."""
        return [o for o in self.outcomes if o.status == "failed"]


def recipients(settings: Settings, table_rows: Sequence[dict],
               to: Sequence[str] = ()) -> list[Recipient]:
    """Return who gets a digest: --to addresses, else config subscribers plus table subscribers."""
    if to:
        return [Recipient(a, "", settings.digest.interfaces) for a in to]
    out = {s.email.lower(): Recipient(s.email, s.name, s.interfaces)
           for s in settings.subscribers}
    for row in table_rows:
        # The operator's file wins over the table for an address listed in both.
        out.setdefault(row["email"].lower(), Recipient(row["email"], row["name"] or "",
                                                       tuple(row["interfaces"])))
    return list(out.values())


def open_smtp(s: SmtpSettings) -> smtplib.SMTP:
    """Return a connected (and, with a username, logged-in) SMTP client."""
    context = ssl.create_default_context(cafile=s.ca_file or None)
    if not s.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if s.security == "ssl":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout,
                                              context=context)
    else:
        conn = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
        if s.security == "starttls":
            conn.starttls(context=context)
    if s.username:
        conn.login(s.username, s.password)
    logger.debug("connected to %s:%s (%s%s)", s.host, s.effective_port, s.security,
                 ", authenticated as " + s.username if s.username else "")
    return conn


def _eml_name(label: str, email: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", f"{label}-{email}") + ".eml"


def _error(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"the server refused the address ({code} {text.decode(errors='replace')})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"login refused ({exc.smtp_code}): check smtp.username and "
                "ABIWATCH_SMTP_PASSWORD")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the server said {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed ({exc}): check smtp.security, smtp.ca_file and smtp.verify"
    if isinstance(exc, OSError):
        return f"cannot reach the mail server ({exc.strerror or exc}): check smtp.host and smtp.port"
    return f"{type(exc).__name__}: {exc}"


def send_digests(db: sqlite_utils.Database, settings: Settings, start: date, end: date,
                 to: Sequence[Recipient], *, out_dir: str | Path | None = None,
                 dry_run: bool = False, resend: bool = False, now: datetime | None = None,
                 connect: Callable[[SmtpSettings], smtplib.SMTP] = open_smtp) -> SendReport:
    """Send (or with dry_run write/return) the digest of [start, end) to each recipient once."""
    label = period_label(start, end)
    report = SendReport(label)
    stamp = now or datetime.now(UTC)
    conn: smtplib.SMTP | None = None
    unreachable: str | None = None
    connect_failures = 0
    for r in to:
        addr = parseaddr(r.email)[1] or r.email
        already = q.sent_at(db, label, addr)
        if already and not resend:
            report.outcomes.append(Outcome(addr, "skipped", f"already sent {already}"))
            continue
        try:
            msg = build_digest(db, start, end, interfaces=r.interfaces or None,
                               recipient=formataddr((r.name, addr)) if r.name else addr,
                               settings=settings.digest)
        except DigestError as exc:
            report.outcomes.append(Outcome(addr, "failed", str(exc)))
            continue
        msg["Date"] = formatdate(stamp.timestamp(), usegmt=True)
        if dry_run or out_dir is not None:
            path = None
            if out_dir is not None:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                path = Path(out_dir) / _eml_name(label, addr)
                path.write_bytes(bytes(msg))
            report.outcomes.append(Outcome(addr, "written", msg["Subject"],
                                           str(path) if path else None, msg))
            continue
        if unreachable:
            report.outcomes.append(Outcome(addr, "failed", f"not attempted: {unreachable}"))
            continue
        try:
            if conn is None:
                try:
                    conn = connect(settings.smtp)
                    connect_failures = 0
                except (OSError, smtplib.SMTPException) as exc:
                    connect_failures += 1
                    # Twice in a row: the server is down, do not wait for every recipient.
                    if connect_failures >= 2:
                        unreachable = _error(exc)
                    raise
            conn.send_message(msg, from_addr=parseaddr(settings.digest.sender)[1],
                              to_addrs=[addr])
        except (OSError, smtplib.SMTPException) as exc:
            logger.warning("digest %s to %s failed: %s", label, addr, _error(exc))
            report.outcomes.append(Outcome(addr, "failed", _error(exc)))
            if not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError
                              | smtplib.SMTPSenderRefused) and conn is not None:
                # The connection may be broken: start a fresh one for the next recipient.
                try:
                    conn.close()
                finally:
                    conn = None
            continue
        q.record_sent(db, label, addr, msg["Message-ID"], stamp.isoformat(timespec="seconds"))
        logger.info("sent digest %s to %s", label, addr)
        report.outcomes.append(Outcome(addr, "sent", msg["Subject"]))
    if conn is not None:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
    return report
