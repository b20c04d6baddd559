"""How verdicts read, one wording for the terminal, Discord and the digest: a verdict a
person gave ("resolved (by hand, Juergen Gross)") and what became of a posting
("merged in v6.8-rc1 as a0905d5fa8e2 on 2023-12-01 (3 of 4 parts; 1 concern still
open at merge)")."""

from __future__ import annotations


def hand_note(correction: str | None, corrected_by: str | None) -> str | None:
    """Return "by hand, NAME" ("reopened by hand, NAME") when a person gave the verdict."""
    if correction == "resolved-by":
        return f"by hand, {corrected_by or 'someone'}"
    if correction == "reopen":
        return f"reopened by hand, {corrected_by or 'someone'}"
    return None


def verdict(status: str, correction: str | None = None, corrected_by: str | None = None) -> str:
    """Return a concern's status, with who gave it when a person did: "resolved (by hand, X)"."""
    note = hand_note(correction, corrected_by)
    return f"{status} ({note})" if note else status


def merged_phrase(release: str | None, commit: str | None, date: str | None,
                  details: list[str] = ()) -> str:
    """Return "merged in v6.8-rc1 as a0905d5fa8e2 on 2023-12-01 (details; ...)"."""
    out = "merged" + (f" in {release}" if release else "") + f" as {(commit or '')[:12]}"
    if date:
        out += f" on {date[:10]}"
    return out + (f" ({'; '.join(details)})" if details else "")


def merge_details(state: str, merged_parts: int, parts: int, open_at_merge: int) -> list[str]:
    """Return what to say about a merge: how many parts went in when not all did, and how
    many concerns were still open."""
    out = [f"{merged_parts} of {parts} parts"] if state == "partial" else []
    if open_at_merge:
        out.append(f"{open_at_merge} concern{'s' if open_at_merge != 1 else ''} "
                   "still open at merge")
    return out
