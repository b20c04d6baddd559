"""Headers are never trusted: dates, encodings, charsets, addresses, Message-IDs."""

from __future__ import annotations

import email.utils
import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abiwatch.ingest.headers import (
    _common_date,
    addresses_in,
    mbox_from_date,
    msgids_in,
    normalize_msgid,
    parse_address,
    parse_date,
    received_date,
)
from abiwatch.ingest.record import parse_message
from abiwatch.ingest.sources import iter_mbox

ANDI = "200608101331.19954.ak@muc.de"


def _first(h, name: str):
    """Return (raw, From_ line) of the first message of a fixture mbox."""
    mail = next(iter_mbox(io.BytesIO(h.fixture(name).read_bytes()), name))
    return mail.raw, mail.mbox_from


def _andi(h) -> bytes:
    return _first(h, "lkml-2006-orphan-replies-paravirt-h.mbox")[0]


def _problems(parsed) -> dict[str, str]:
    return dict(parsed.problems)


def test_rfc2822_date_is_utc_with_the_raw_value_kept(h):
    m = parse_message(_andi(h)).message
    assert (m["date"], m["date_raw"], m["date_source"]) == (
        "2006-08-10T11:31:19Z", "Thu, 10 Aug 2006 13:31:19 +0200", "rfc2822")


@pytest.mark.parametrize("broken", [
    "2006-08-10 13:31:19 +0200",              # ISO form from a script
    "10 Aug 2006 13:31:19 CEST",              # a zone name the stdlib does not know
    "Thu, 10 Aug 2006 13:31:19 +02:00",       # a colon in the offset
    "08/10/2006 13:31:19 +0200",              # US numeric date
])
def test_broken_date_is_repaired_by_dateutil_and_flagged(h, broken):
    raw = _andi(h).replace(b"Date: Thu, 10 Aug 2006 13:31:19 +0200",
                           b"Date: " + broken.encode())
    p = parse_message(raw)
    assert (p.message["date"], p.message["date_raw"], p.message["date_source"]) == (
        "2006-08-10T11:31:19Z", broken, "dateutil")
    assert "date-repaired" in _problems(p)


def test_twelve_hour_clock_without_zone_keeps_its_pm():
    dt, how = parse_date("Thursday, August 10, 2006 1:31 PM")
    assert (dt, how) == (datetime(2006, 8, 10, 13, 31, tzinfo=UTC), "dateutil")


def test_minus_zero_zone_is_utc_by_rfc():
    assert parse_date("Thu, 10 Aug 2006 13:31:19 -0000") == (
        datetime(2006, 8, 10, 13, 31, 19, tzinfo=UTC), "rfc2822")


def test_missing_date_falls_back_to_the_first_received_header(h):
    raw = _andi(h).replace(b"Date: Thu, 10 Aug 2006 13:31:19 +0200\n", b"")
    p = parse_message(raw)
    # vger's last hop: "...(ORCPT <rfc822;willy@w.ods.org>);\n\tThu, 10 Aug 2006 07:31:41 -0400"
    assert (p.message["date"], p.message["date_raw"], p.message["date_source"]) == (
        "2006-08-10T11:31:41Z", None, "received")
    assert "missing-date" in _problems(p)


def test_unparseable_date_falls_back_to_received_and_keeps_the_raw_value(h):
    raw = _andi(h).replace(b"Date: Thu, 10 Aug 2006 13:31:19 +0200",
                           b"Date: Thu, 10 Aug 2006 25:61:19 +0200")
    p = parse_message(raw)
    assert (p.message["date_raw"], p.message["date_source"]) == (
        "Thu, 10 Aug 2006 25:61:19 +0200", "received")
    assert _problems(p)["bad-date"] == "Thu, 10 Aug 2006 25:61:19 +0200"


def test_no_date_and_no_received_falls_back_to_the_mbox_from_line(h):
    raw, from_line = _first(h, "patchwork-8bit-utf8-headers.mbox")
    assert from_line == "From patchwork Wed Jun  1 20:00:54 2016"
    without = re.sub(rb"\nDate: [^\n]*\n", b"\n", raw, count=1)
    assert b"\nReceived:" not in without and b"\nDate:" not in without
    m = parse_message(without, mbox_from=from_line).message
    assert (m["date"], m["date_source"]) == ("2016-06-01T20:00:54Z", "mbox_from")
    # and the real Date agrees with it
    assert parse_message(raw, mbox_from=from_line).message["date"] == "2016-06-01T20:00:54Z"


_DAYS = st.sampled_from(["", "Mon, ", "Thu, ", "Sun, "])
_MONTHS = st.sampled_from("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())


@given(_DAYS, st.integers(0, 39), _MONTHS, st.integers(1000, 9999), st.integers(0, 29),
       st.integers(0, 69), st.integers(0, 69), st.sampled_from("+-"), st.integers(0, 29),
       st.integers(0, 99), st.sampled_from(["", " (PDT)", " (UTC)"]))
def test_the_fast_path_for_common_dates_agrees_with_the_stdlib(day_name, day, month, year, hh,
                                                               mm, ss, sign, oh, om, comment):
    value = f"{day_name}{day} {month} {year} {hh:02d}:{mm:02d}:{ss:02d} {sign}{oh:02d}{om:02d}{comment}"
    fast = _common_date(value)
    try:
        stdlib = email.utils.parsedate_to_datetime(value)
    except (ValueError, OverflowError):
        stdlib = None
    if fast is not None:  # the fast path declines what it cannot read exactly
        assert stdlib is not None and stdlib.tzinfo is not None
        assert fast == stdlib and fast.utcoffset().total_seconds() == 0


def test_the_fast_path_reads_the_usual_form_and_leaves_zoneless_dates_to_the_stdlib():
    assert _common_date("Thu, 3 Aug 2006 14:21:07 -0700 (PDT)") == datetime(2006, 8, 3, 21, 21, 7,
                                                                            tzinfo=UTC)
    assert _common_date("Thu, 3 Aug 2006 14:21:07 -0000") is None


def test_placeholder_from_lines_are_not_dates():
    assert mbox_from_date("From mboxrd@z Thu Jan  1 00:00:00 1970") is None
    # git format-patch (virt-20211108-maintainers-...: an attached patch's first line)
    assert mbox_from_date("From f66faa238facf504cfc66325912ce7af8cbf79ec "
                          "Mon Sep 17 00:00:00 2001") is None
    assert mbox_from_date("From patchwork Wed Jun  1 20:00:54 2016") == "Wed Jun  1 20:00:54 2016"


def test_nothing_to_date_by_gives_null_date_and_says_so(h):
    raw = (h.fixture("flanker-crlf-multipart.eml")).read_bytes()
    m = parse_message(raw).message
    assert (m["date"], m["date_source"]) == (None, "none")


@pytest.mark.slow
def test_fuzzed_overlong_date_takes_the_received_date(corpus_db, h):
    db, _, _ = corpus_db
    src = str(h.shared("patchwork-tests", "fuzz", "date-too-long.mbox").resolve())
    row = h.one(db, "SELECT m.date_source, m.date_raw FROM messages m JOIN raw_messages r "
                    "ON r.sha256 = m.raw_sha256 WHERE r.source = ?", [src])
    assert row == ("received", "Wed, 4 Jun 207777777777777777777714 17:50:46 0")


def test_received_date_takes_the_part_after_the_last_semicolon():
    value = ("(majordomo@vger.kernel.org) by vger.kernel.org via listexpand id S1161145AbWHJLbl "
             "(ORCPT <rfc822;willy@w.ods.org>); Thu, 10 Aug 2006 07:31:41 -0400")
    assert received_date(value) == "Thu, 10 Aug 2006 07:31:41 -0400"
    assert received_date("from somewhere by elsewhere") is None


def test_rfc2047_encoded_words_are_decoded_and_invalid_ones_kept(h):
    raw, _ = _first(h, "patchwork-8bit-invalid-utf8-headers.mbox")
    p = parse_message(raw)
    assert (p.message["from_name"], p.message["from_addr"]) == ("Rafał Miłecki",
                                                                "zajec5@gmail.com")
    # the Cc has '=?UTF-8?q?Rafa=FF=FF=20Mi=FF=FFecki?=': invalid UTF-8, recorded
    assert "invalid-header-bytes" in _problems(p)
    assert "zajec5@gmail.com" in p.message["cc_addrs"]


def test_raw_8bit_utf8_headers_are_read_as_utf8(h):
    raw, _ = _first(h, "patchwork-8bit-utf8-headers.mbox")
    m = parse_message(raw).message
    assert m["subject"] == ("MAINTAINERS: Update entry for BCM5301X ARM to include "
                            "Rafał Miłecki")
    assert m["from_name"] == "Rafał Miłecki"


def test_8bit_header_that_is_not_utf8_falls_back_to_latin1(h):
    raw = _andi(h).replace(b"Subject: Re: [PATCH] paravirt.h",
                           b"Subject: Re: [PATCH] paravirt.h \xe9t\xe9")
    assert parse_message(raw).message["subject"] == "Re: [PATCH] paravirt.h été"


def test_unknown_body_charset_is_decoded_by_fallback_and_recorded(h):
    raw, _ = _first(h, "patchwork-invalid-charset.mbox")
    p = parse_message(raw)
    assert _problems(p)["unknown-charset"] == "none"
    assert p.message["own_text"].startswith("This patch, relative to a tree with")


def test_x_unknown_charset_takes_utf8_bytes_as_utf8(h):
    p = parse_message(h.fixture("pi-x-unknown-charset.eml").read_bytes())
    assert "• bullet point" in p.message["own_text"]
    # "Date:\t..." with a tab, and a "(CEST)" comment
    assert p.message["date"] == "2016-08-13T10:14:15Z"


def test_iso_2022_jp_body_is_decoded(h):
    p = parse_message(h.fixture("pi-iso-2022-jp-body.eml").read_bytes())
    assert "けいじゅ" in p.message["own_text"]
    assert p.message["charset"] == "iso-2022-jp"
    assert p.message["date"] == "1997-07-28T15:08:29Z"  # two-digit year 97


def test_crlf_mail_parses_like_lf_mail(h):
    raw = h.fixture("flanker-crlf-multipart.eml").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")
    crlf = parse_message(raw).message
    lf = parse_message(raw.replace(b"\r\n", b"\n")).message
    assert crlf["subject"] == "Welcome" and crlf["own_text"] == "Sasha"
    assert (crlf["from_name"], crlf["from_addr"]) == ("Administrator",
                                                      "administrator@example.com")
    for key in ("subject", "from_name", "from_addr", "own_text", "to_addrs"):
        assert crlf[key] == lf[key], key


@pytest.mark.parametrize(("value", "expected"), [
    ("<1155202505.18420.5.camel@localhost.localdomain>",
     "1155202505.18420.5.camel@localhost.localdomain"),
    ("  <PU1P153MB016977F8FC0F30A464F51B16BF700@PU1P153MB0169.APCP153.PROD.OUTLOOK.COM>\n",
     "PU1P153MB016977F8FC0F30A464F51B16BF700@PU1P153MB0169.APCP153.PROD.OUTLOOK.COM"),
    ("<4415B857.9010902@vmware.com> (Zachary Amsden's message)", "4415B857.9010902@vmware.com"),
    ("<split\n @example.com>", "split@example.com"),
    ("bare@example.com", "bare@example.com"),
    ("", None),
    ("<>", None),
])
def test_message_id_normalisation(value, expected):
    assert normalize_msgid(value) == expected


def test_in_reply_to_with_several_ids_and_mutt_comment():
    # Andi Kleen's mutt: "<id> (from x on date)" and two ids on one line
    value = ("<3A14FF48.E554BE1B@home.com> <14869.6415.500026.432150@harpo.it.uu.se>; "
             "from mikpe@csd.uu.se on Fri, Nov 17, 2000 at 12:39:59PM +0100")
    assert msgids_in(value) == ["3A14FF48.E554BE1B@home.com",
                                "14869.6415.500026.432150@harpo.it.uu.se"]


@pytest.mark.parametrize(("value", "expected"), [
    ("Andi Kleen <ak@suse.de>", ("Andi Kleen", "ak@suse.de", False)),
    ('"Mohammad A. Haque" <mhaque@haque.net>', ("Mohammad A. Haque", "mhaque@haque.net", False)),
    ("ak@muc.de (Andi Kleen)", ("Andi Kleen", "ak@muc.de", False)),
    ("Zachary Amsden <[EMAIL PROTECTED]>", ("Zachary Amsden", None, True)),
    ("zach at vmware dot com", (None, "zach@vmware.com", True)),
    ("Rusty Russell <rusty (at) rustcorp.com.au>", ("Rusty Russell", "rusty@rustcorp.com.au", True)),
    ("", (None, None, False)),
])
def test_addresses_including_archive_obfuscation(value, expected):
    assert parse_address(value) == expected


def test_synthetic_id_is_stable_and_derived_from_content(h):
    raw = h.fixture("flanker-crlf-multipart.eml").read_bytes()
    a, b = parse_message(raw), parse_message(raw)
    assert a.message["message_id"] == b.message["message_id"]
    assert a.message["synthetic_id"] == 1
    assert parse_message(raw + b"x").message["message_id"] != a.message["message_id"]


_ADDRESS_TEXT = st.text(alphabet=st.sampled_from(list('ab.@<>(),;:"[]\\ \té')))


@given(_ADDRESS_TEXT)
def test_addresses_are_the_runs_around_an_at_sign(value):
    # the plain form of headers._ADDR, whose lookbehind and possessive run only make it fast
    plain = re.findall(r"[^\s<>(),;:\"\[\]@\\]+@[^\s<>(),;:\"\[\]@\\]+", value)
    assert addresses_in(value) == list(dict.fromkeys(a.strip(".").lower() for a in plain))


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab@.<> \t")), max_size=8), max_size=6))
def test_msgids_in_normalises_each_bracketed_id_once_in_order(parts):
    value = " ".join(f"<{p}>" for p in parts)
    expected = [normalize_msgid(m) for m in re.findall(r"<([^<>]+)>", value)]
    assert msgids_in(value) == list(dict.fromkeys(m for m in expected if m))
