"""The interface catalog is data: the default covers the virtualization interfaces,
users add their own without code changes, and a broken file says what to fix."""

from __future__ import annotations

import pytest
import spacy

from abiwatch.nlp.analysis import analyze
from abiwatch.nlp.catalog import CatalogError, load_catalog
from abiwatch.nlp.pipeline import build_nlp
from abiwatch.nlp.tagging import tag


def _interfaces(text: str) -> dict[str, tuple[str, str]]:
    nlp = build_nlp()
    return analyze(nlp, [("m", "", text)])[0].interfaces


def test_default_catalog_has_the_required_canonical_names():
    names = {i.name for i in load_catalog().interfaces}
    assert {"paravirt_ops", "VMI", "Xen", "KVM", "lguest", "Hyper-V", "VMware"} <= names


def test_paravirt_ops_is_found_by_alias_struct_member_and_config_symbol():
    for text in ("the pv_ops hooks", "struct paravirt_ops is exported", "we patch pvops sites",
                 "pv_cpu_ops.safe_halt is called", "the .safe_halt() hook", "CONFIG_PARAVIRT=y",
                 "the paravirt-ops design"):
        assert "paravirt_ops" in _interfaces(text), text


def test_paravirt_header_paths_belong_to_paravirt_ops():
    cat = load_catalog()
    assert cat.interfaces_for_path("arch/x86/include/asm/paravirt_types.h") == ["paravirt_ops"]
    assert "Xen" in cat.interfaces_for_path("arch/x86/xen/enlighten_pv.c")
    assert cat.interfaces_for_path("kernel/sched/core.c") == []


def test_pipeline_runs_offline_on_blank_english():
    nlp = build_nlp()
    assert nlp.lang == "en"
    assert not any(name in nlp.pipe_names for name in ("tagger", "parser", "ner"))
    assert spacy.blank("en").pipe_names == []


def test_a_user_catalog_adds_an_interface_without_code_changes(tmp_path, devset_db):
    catalog = tmp_path / "mine.toml"
    catalog.write_text(
        '[[interface]]\nname = "module-loader"\nkind = "API"\n'
        'aliases = ["insmod", "modprobe", "kernel module interface"]\n'
        "symbols = ['\\bEXPORT_SYMBOL(?:_GPL)?\\b']\npaths = [\"kernel/module\"]\n")
    db_path = tmp_path / "copy.db"
    devset_db.conn.commit()
    devset_db.conn.execute(f"VACUUM INTO '{db_path}'")
    from abiwatch.db import open_db

    db = open_db(db_path)
    tag(db, catalog_path=str(catalog), progress=False)
    rows = db.execute("SELECT m.from_name, mi.evidence FROM message_interfaces mi JOIN messages m "
                      "ON m.message_id = mi.message_id WHERE mi.interface = 'module-loader'").fetchall()
    # Alan Cox: "We have a facility for loading binary blobs into the kernel ... its called insmod."
    assert any(name == "Alan Cox" and ev.lower() == "insmod" for name, ev in rows)
    assert db.execute("SELECT name FROM interfaces").fetchall() == [("module-loader",)]


@pytest.mark.parametrize("body, says", [
    ('[[interface]]\nname = "x"\nkind = "ABIish"\n', "kind must be ABI, API or both"),
    ("[[interface]]\nname = \"x\"\nsymbols = ['(unclosed']\n", "bad symbol regex"),
    ("[[interface]\n", "is not valid TOML"),
])
def test_a_broken_catalog_says_what_is_wrong(tmp_path, body, says):
    bad = tmp_path / "bad.toml"
    bad.write_text(body)
    with pytest.raises(CatalogError, match=says):
        load_catalog(bad)
