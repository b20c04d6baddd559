#!/usr/bin/env python3
"""Check a label file against its threads, without running abiwatch.

Every message of every listed thread file must have exactly one label line;
interfaces and kinds must be from the guide; a concern's `text` must occur in
the message's own words (quote marks and white space folded); `resolved_by`
and `patch` must name a message id (resolved_by one in the same file).

    python bench/check_labels.py LABELS.jsonl ROOT [threads/FILE.mbox ...]

ROOT is the folder the labels' `file` paths are relative to.
"""

from __future__ import annotations

import email.policy
import json
import mailbox
import re
import sys
from pathlib import Path

INTERFACES = {"paravirt_ops", "VMI", "Xen", "KVM", "lguest", "Hyper-V", "VMware"}
KINDS = {"nak", "objection", "question", "risk", "request"}
_ID = re.compile(r"<([^<>\s]+)>")


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"(?m)^[ \t]*>+", " ", text)).strip().lower()


def bodies(path: Path) -> dict[str, str]:
    out = {}
    for msg in mailbox.mbox(str(path), factory=lambda f: email.message_from_binary_file(
            f, policy=email.policy.default)):
        ids = _ID.findall(str(msg.get("Message-ID") or ""))
        if not ids:
            continue
        parts = [p for p in msg.walk() if p.get_content_maintype() == "text"]
        text = ""
        for p in parts:
            try:
                text += p.get_content() + "\n"
            except (LookupError, UnicodeError):
                text += p.get_payload(decode=True).decode("utf-8", "replace") + "\n"
        out[ids[0]] = fold(str(msg.get("Subject") or "") + "\n" + text)
    return out


def check(labels_path: Path, root: Path, files: list[str]) -> list[str]:
    problems = []
    labels = [json.loads(line) for line in labels_path.read_text().splitlines() if line.strip()]
    by_file: dict[str, dict[str, dict]] = {}
    for lab in labels:
        by_file.setdefault(lab["file"], {})
        if lab["message_id"] in by_file[lab["file"]]:
            problems.append(f"{lab['message_id']}: labelled twice")
        by_file[lab["file"]][lab["message_id"]] = lab
    for name in files or sorted(by_file):
        text = bodies(root / name)
        got = by_file.get(name, {})
        for mid in text:
            if mid not in got:
                problems.append(f"{name}: {mid} has no label line")
        for mid, lab in got.items():
            if mid not in text:
                problems.append(f"{name}: {mid} is not a message of this file")
                continue
            for key in ("interfaces", "abi_api", "patch", "concerns"):
                if key not in lab:
                    problems.append(f"{mid}: no '{key}'")
            bad = set(lab.get("interfaces", [])) - INTERFACES
            if bad:
                problems.append(f"{mid}: unknown interfaces {sorted(bad)}")
            for c in lab.get("concerns", []):
                if c.get("interface") not in INTERFACES:
                    problems.append(f"{mid}: concern interface {c.get('interface')!r}")
                if c.get("kind") not in KINDS:
                    problems.append(f"{mid}: concern kind {c.get('kind')!r}")
                if c.get("status") not in ("open", "resolved"):
                    problems.append(f"{mid}: status {c.get('status')!r}")
                if (c.get("status") == "resolved") != bool(c.get("resolved_by")):
                    problems.append(f"{mid}: resolved_by must be set exactly when resolved")
                if c.get("resolved_by") and c["resolved_by"] not in text:
                    problems.append(f"{mid}: resolved_by {c['resolved_by']} is not in this file")
                if fold(c.get("text", "")) not in text[mid]:
                    problems.append(f"{mid}: concern text not found verbatim: {c.get('text', '')[:60]!r}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = check(Path(argv[0]), Path(argv[1]), argv[2:])
    for p in problems:
        print(p)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
