"""Subject parsing: the tags kernel people put in front of a title.

Each example is a subject seen on the lists (the corpus under ../shared/data
or patchwork's and b4's test mail); the property tests throw everything else.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abiwatch.ingest.subject import normalize_title, parse_subject


def test_version_and_part_of_a_numbered_series():
    s = parse_subject("[PATCH v3 2/7] x86/paravirt: switch time pvops functions")
    assert (s.is_patch, s.version, s.counter, s.total) == (True, 3, 2, 7)
    assert s.title == "x86/paravirt: switch time pvops functions"
    assert not s.is_cover


def test_rfc_patch_is_a_patch_and_an_rfc():
    s = parse_subject("[RFC PATCH] paravirt.h")
    assert s.is_patch and s.is_rfc and s.version == 1
    assert s.title == "paravirt.h"


def test_tree_tag_like_dash_mm_is_kept_as_prefix_not_title():
    s = parse_subject("[PATCH -mm] i386: vmi timer fixes")
    assert s.is_patch and s.title == "i386: vmi timer fixes"
    assert s.prefixes == ("PATCH -mm",)


def test_lowercase_patch_with_zero_padded_counter():
    s = parse_subject("[patch 01/24] VMI i386 Linux virtualization interface")
    assert s.is_patch and (s.counter, s.total) == (1, 24)


def test_comma_separated_rfc_patch_cover_letter():
    # the 2006 VMI proposal: lkml-20060313-vmi-i386-virtualization-interface-rfc.mbox
    s = parse_subject("Re: [RFC, PATCH 0/24] VMI i386 Linux virtualization interface proposal")
    assert s.is_reply and s.is_patch and s.is_rfc
    assert (s.counter, s.total) == (0, 24)
    assert s.is_cover
    assert s.title == "VMI i386 Linux virtualization interface proposal"


def test_netdev_tree_and_version_in_one_group():
    s = parse_subject("[PATCH net-next v3 0/4] Add support for Netlink")
    assert (s.version, s.counter, s.total, s.is_cover) == (3, 0, 4, True)


def test_mercurial_n_of_m_counter():
    # patchwork series/mercurial-cover-letter.mbox
    cover = parse_subject("[PATCH 0 of 2] Add a mercurial test")
    part = parse_subject("[PATCH 2 of 2] second patch")
    assert (cover.counter, cover.total, cover.is_cover) == (0, 2, True)
    assert (part.counter, part.total) == (2, 2)


@pytest.mark.parametrize("subject", [
    "Re: Re: AW: [PATCH] paravirt.h",
    "RE: [PATCH] paravirt.h",
    "Re: [PATCH] paravirt.h",
    "Re[2]: [PATCH] paravirt.h",
    "SV: Re: [PATCH] paravirt.h",
])
def test_reply_markers_in_any_language_and_repeated(subject):
    s = parse_subject(subject)
    assert s.is_reply and s.is_patch and s.title == "paravirt.h"


def test_forward_is_not_a_reply_unless_it_says_so():
    assert parse_subject("Fwd: Please forward this email to me").is_forward
    assert not parse_subject("Fwd: Please forward this email to me").is_reply


def test_git_pull_request():
    # patchwork mail/0001-git-pull-request.mbox
    s = parse_subject("[git pull] Please pull powerpc.git merge branch")
    assert s.is_pull and s.is_patch
    assert parse_subject("Re: [GIT PULL] x86/paravirt for v5.12").is_pull
    assert parse_subject("[GIT PULL] Networking").title == "Networking"


def test_version_glued_to_patch_and_capital_v():
    assert parse_subject("[PATCHv2 1/3] foo").version == 2
    assert parse_subject("[PATCH V10 04/19] riscv: qspinlock").version == 10


def test_list_tag_before_patch_tag():
    s = parse_subject("[Buildroot] [PATCH 01/11] package/rpi-userland: rename patches")
    assert s.prefixes == ("Buildroot", "PATCH 01/11")
    assert s.title == "package/rpi-userland: rename patches"


def test_resend_is_flagged():
    assert parse_subject("[PATCH RESEND v2] foo").is_resend


def test_unclosed_bracket_does_not_leak_into_title():
    assert not parse_subject("[").title.startswith("[")
    assert parse_subject("[PATCH v2 x86: foo").title == "PATCH v2 x86: foo"


def test_counter_larger_than_total_keeps_the_part_not_the_total():
    s = parse_subject("[PATCH 3/2] test: Remove Markdown formatting")
    assert (s.counter, s.total) == (3, None)


def test_normalized_title_matches_across_versions():
    a = parse_subject("[PATCH v2 00/12] x86: major paravirt cleanup")
    b = parse_subject("Re: [PATCH v7 00/14] x86: Major paravirt cleanup.")
    assert normalize_title(a.title) == normalize_title(b.title)


_PIECES = st.sampled_from([
    "[", "]", "Re:", "re: ", "AW:", "Fwd:", " ", "\t", "PATCH", "patch", "RFC", "v3", "V10",
    "1/2", "0 of 2", "2/1", "0/0", ",", "GIT PULL", "[PATCH]", "-mm", "net-next", "x86: foo",
    "\u00a0", "\x00", "é", "=?utf-8?q?x?=",
])


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_PIECES, max_size=14).map("".join)))
def test_parse_subject_never_raises_and_title_has_no_leading_bracket(subject):
    s = parse_subject(subject)
    assert not s.title.startswith("[")
    assert s.version >= 1
    if s.counter is not None and s.total is not None:
        assert 0 <= s.counter <= s.total


@settings(max_examples=200, deadline=None)
@given(st.none() | st.text())
def test_parse_subject_accepts_none_and_any_text(subject):
    assert isinstance(parse_subject(subject).title, str)


def test_colon_after_the_tag_group_is_not_part_of_the_title():
    # patchwork mail/0007-cvs-format-diff.mbox (binutils, 2011)
    assert parse_subject("[Patch]: Fix ld pr11138 FAILures on mips*.").title == \
        "Fix ld pr11138 FAILures on mips*."


@given(st.text())
def test_normalize_title_folds_case_and_every_whitespace_run(title):
    expected = re.sub(r"\s+", " ", title.lower()).strip().rstrip(" .:;,!")
    assert normalize_title(title) == expected
