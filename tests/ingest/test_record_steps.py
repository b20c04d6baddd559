"""The named steps of parse_message, each on the one thing it returns."""

from __future__ import annotations

from abiwatch.ingest.headers import Problems
from abiwatch.ingest.record import (
    find_headers,
    find_message_id,
    find_sender,
    find_thread_links,
    header_reader,
)


def _reader(raw: bytes):
    problems = Problems()
    headers, _ = find_headers(raw, problems)
    return header_reader(headers, problems), problems


def test_in_reply_to_comes_last_and_the_message_never_refers_to_itself():
    h, problems = _reader(b"Message-ID: <m@x>\nIn-Reply-To: <p@x>\n"
                          b"References: <r@x> <m@x>\n\nbody\n")
    links = find_thread_links(h, "m@x", problems)
    assert links.references == ["r@x", "p@x"]
    assert links.in_reply_to == "p@x"


def test_a_mailing_list_rewrite_gives_back_the_sender():
    h, problems = _reader(b'From: "Jane Doe via Virtualization" <virt@lists.example.org>\n'
                          b"Reply-To: Jane Doe <jane@example.com>\n\nbody\n")
    sender = find_sender(h, problems)
    assert (sender.name, sender.addr) == ("Jane Doe", "jane@example.com")


def test_a_mail_without_message_id_gets_a_synthetic_one():
    raw = b"From: a@example.com\nSubject: hi\n\nbody\n"
    h, problems = _reader(raw)
    mid, synthetic = find_message_id(h, raw, problems)
    assert synthetic and mid
    assert any(kind == "missing-message-id" for kind, _ in problems.items)


def test_the_date_header_absent_reads_as_none_not_empty():
    h, _ = _reader(b"Subject: x\n\nbody\n")
    assert h("date", None) is None and h("date") == ""
