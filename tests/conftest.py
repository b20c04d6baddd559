"""Fixtures shared by the test packages, and helpers shared by more than one test folder
(kernel_tree.py builds git trees of posted patches): --import-mode=importlib keeps
tests/ off sys.path, so it is put on here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

MBOXRD_FROM = b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"


def reply_mail(*, parent_id: str, subject: str, sender: str, message_id: str, date: str,
               body: str, references: tuple[str, ...] = ()) -> bytes:
    """Return one mboxrd entry: a plain-text reply to parent_id as a list member's mail
    client writes it (the headers LKML mail of 2006 carries, In-Reply-To and References)."""
    refs = " ".join(f"<{r}>" for r in (*references, parent_id))
    headers = (f"From: {sender}\nTo: linux-kernel@vger.kernel.org\n"
               f"Subject: Re: {subject.removeprefix('Re: ')}\nDate: {date}\n"
               f"Message-ID: <{message_id}>\nIn-Reply-To: <{parent_id}>\nReferences: {refs}\n"
               "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n"
               "Content-Transfer-Encoding: 7bit\n")
    # mboxrd: a body line starting with (>*)From gets one more '>'
    lines = [(">" + ln if ln.lstrip(">").startswith("From ") else ln) for ln in body.split("\n")]
    return MBOXRD_FROM + (headers + "\n" + "\n".join(lines).rstrip("\n") + "\n\n").encode()


@pytest.fixture
def make_reply() -> Callable[..., bytes]:
    """Return reply_mail: builds a reply (an mboxrd entry) to append to a real thread."""
    return reply_mail
