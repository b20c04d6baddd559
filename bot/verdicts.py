"""How a verdict reads when a person gave it: one wording for the terminal, Discord
and the digest ("resolved (by hand, Juergen Gross)")."""

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
