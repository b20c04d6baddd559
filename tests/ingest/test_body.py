"""Bodies: the author's own words, separated from quotes, signatures and list footers."""

from __future__ import annotations

import io
import zlib

import zstandard

from abiwatch.db.blobs import decompress_raw
from abiwatch.ingest.body import split_text
from abiwatch.ingest.record import parse_message
from abiwatch.ingest.sources import iter_mbox

# vger's footer as it was appended to every linux-kernel copy in the 2000s
VGER_FOOTER = (
    b"-\n"
    b'To unsubscribe from this list: send the line "unsubscribe linux-kernel" in\n'
    b"the body of a message to majordomo@vger.kernel.org\n"
    b"More majordomo info at  http://vger.kernel.org/majordomo-info.html\n"
    b"Please read the FAQ at  http://www.tux.org/lkml/\n"
)


def _mails(h, name: str) -> dict[str, bytes]:
    """Return {Message-ID: raw} of a fixture mbox."""
    out = {}
    for mail in iter_mbox(io.BytesIO(h.fixture(name).read_bytes()), name):
        p = parse_message(mail.raw)
        out[p.message["message_id"]] = mail.raw
    return out


def _andi(h) -> bytes:
    return _mails(h, "lkml-2006-orphan-replies-paravirt-h.mbox")["200608101331.19954.ak@muc.de"]


def test_own_text_excludes_the_attribution_and_nested_quotes(h):
    p = parse_message(_andi(h))
    own, quoted = p.message["own_text"], p.message["quoted_text"]
    assert own.startswith("Hmm, i still see a lot of them (and __volatile too)")
    assert own.endswith("-Andi")
    assert "wrote:" not in own and ">" not in own
    assert quoted.startswith("On Thursday 10 August 2006 13:05, Rusty Russell wrote:")
    assert "> OK, here's with the __removal__" in quoted


def test_lkml_footer_is_not_part_of_the_own_text(h):
    """The same real LKML mail with vger's footer, as subscribers received it."""
    raw = _andi(h)
    with_footer = raw.rstrip(b"\n") + b"\n" + VGER_FOOTER
    plain = parse_message(raw).message
    footed = parse_message(with_footer).message
    assert footed["own_text"] == plain["own_text"]
    assert "unsubscribe" not in footed["own_text"] and "majordomo" not in footed["own_text"]
    assert footed["signature"] == plain["signature"]


def test_lkml_footer_after_a_signature_is_dropped_with_it(h):
    raw = _andi(h).rstrip(b"\n") + b"\n-- \nAndi Kleen, SUSE Labs\n" + VGER_FOOTER
    m = parse_message(raw).message
    assert m["own_text"].endswith("-Andi")
    assert m["signature"] == "-- \nAndi Kleen, SUSE Labs"


def test_mailman_footer_of_the_virtualization_list_is_removed(h):
    mails = _mails(h, "virt-mailman-footer-and-dmarc-from.mbox")
    raw = mails["MN2PR05MB61419440A3C9FF9CB920BCD5A19B0@MN2PR05MB6141.namprd05.prod.outlook.com"]
    assert b"Virtualization mailing list" in raw
    m = parse_message(raw).message
    assert m["own_text"] == "Acked-by: Thomas Hellstrom <thellstrom@vmware.com>"
    assert "mailing list" not in (m["quoted_text"] or "")


def test_signature_is_split_off(h):
    mails = _mails(h, "virt-mailman-footer-and-dmarc-from.mbox")
    m = parse_message(mails["201910071743.1C48038A@keescook"]).message
    assert m["signature"] == "-- \nKees Cook"
    assert m["own_text"] == "Reviewed-by: Kees Cook <keescook@chromium.org>\n\n-Kees"


def test_dmarc_rewritten_from_is_the_real_sender(h):
    """Mailman rewrites 'From: X via Virtualization <list>' and keeps X in Reply-To."""
    mails = _mails(h, "virt-mailman-footer-and-dmarc-from.mbox")
    raw = mails["CAKwvOd=hjxJYhU=C4wqkKKnLwuQjjL=wPAh6uBj-M8r8AtDdFA@mail.gmail.com"]
    assert b"Nick Desaulniers via Virtualization" in raw
    m = parse_message(raw).message
    assert (m["from_name"], m["from_addr"]) == ("Nick Desaulniers", "ndesaulniers@google.com")


def test_outlook_one_line_attribution_is_quoted_not_own(h):
    """linux-hyperv: 'From: Nuno Das Neves <...> Sent: Thursday, October 16, 2025 12:54 PM'."""
    mails = _mails(h, "mboxrd-quoted-from-and-outlook-attribution.mbox")
    raw = mails["SN6PR02MB4157EE75A14F5F7EA7D6D070D4F6A@SN6PR02MB4157.namprd02.prod.outlook.com"]
    m = parse_message(raw).message
    assert m["quoted_text"].startswith(
        "From: Nuno Das Neves <nunodasneves@linux.microsoft.com> Sent: Friday, October 17, "
        "2025 10:26 AM")
    assert "Sent:" not in m["own_text"]
    assert m["own_text"].startswith("OK, thanks. You might want to tweak the commit message")


def test_outlook_original_message_block_is_quoted():
    text = ("Looks good to me.\n\n-----Original Message-----\nFrom: Someone\n"
            "Sent: Monday\nSubject: [PATCH] x\n\nthe old mail\n")
    s = split_text(text)
    assert s.own == "Looks good to me."
    assert "the old mail" in s.quoted


def test_inline_reply_keeps_every_own_paragraph_in_order(h):
    """Interleaved replies: each answer is own text, each quote is quoted."""
    mails = _mails(h, "mboxrd-quoted-from-and-outlook-attribution.mbox")
    raw = mails["a0090bbf-08b4-4b36-8cf2-18687a83ee8f@linux.microsoft.com"]
    m = parse_message(raw).message
    own = m["own_text"]
    assert own.index("It's the latter case") < own.index("Thanks, will add")
    assert "> " not in own


def test_quoted_printable_soft_breaks_are_undone(h):
    mails = _mails(h, "mboxrd-quoted-from-and-outlook-attribution.mbox")
    raw = mails["SN6PR02MB4157E6D02773A9D7A4B9E85BD4F6A@SN6PR02MB4157.namprd02.prod.outlook.com"]
    assert b"Sent: Thursday, Oct=\n" in raw
    m = parse_message(raw).message
    assert "Sent: Thursday, October 16, 2025 12:54 PM" in m["quoted_text"]
    assert "=\n" not in m["own_text"]


def test_diff_and_diffstat_are_not_own_text(h):
    mails = _mails(h, "mboxrd-quoted-from-and-outlook-attribution.mbox")
    raw = mails["1760644436-19937-1-git-send-email-nunodasneves@linux.microsoft.com"]
    m = parse_message(raw).message
    assert "diff --git" not in m["own_text"] and "@@ " not in m["own_text"]
    assert "files changed" not in m["own_text"]
    assert "Signed-off-by: Nuno Das Neves" in m["own_text"]


def test_html_only_mail_falls_back_to_stripped_html(h, corpus_db):
    db, _, _ = corpus_db
    src = str(h.shared("flanker-fixtures", "long-links.eml").resolve())
    row = h.one(db, "SELECT m.own_text FROM messages m JOIN raw_messages r "
                    "ON r.sha256 = m.raw_sha256 WHERE r.source = ?", [src])
    assert "<a " not in row[0] and "http://www.longurlmaker.com" in row[0]


def test_full_raw_bytes_are_kept_compressed(h, ingest_into):
    db, _ = ingest_into([h.fixture("lkml-2006-orphan-replies-paravirt-h.mbox")])
    blob = h.one(db, "SELECT raw FROM raw_messages WHERE message_id = ?",
                 ["200608101331.19954.ak@muc.de"])[0]
    assert decompress_raw(blob) == _andi(h)
    assert zstandard.decompress(blob) == _andi(h)  # what docs/schema.md tells SQL users
    assert len(blob) < len(_andi(h)) * 0.7


def test_raw_bytes_stored_zlib_compressed_by_older_versions_still_read(h):
    assert decompress_raw(zlib.compress(_andi(h), 1)) == _andi(h)
