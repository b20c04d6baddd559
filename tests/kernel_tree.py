"""Build small real git trees whose commits carry posted patches, as a maintainer's would.

There is no kernel tree here, so a posted diff is committed onto files rebuilt
from its own hunks: each hunk's old lines sit at the line numbers the hunk
names, with filler between, so `git apply` lands every hunk where it was and
the commit's diff (and so its patch-id) is the posting's.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def git(repo: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> str:
    """Run git in repo and return its output; fail the test on a git error."""
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, input=stdin).stdout


def new_tree(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "master")
    git(path, "config", "user.name", "Test Maintainer")
    git(path, "config", "user.email", "maintainer@example.org")
    return path


def _files(diff: str) -> dict[str, list[str]]:
    files, current = {}, None
    for line in diff.splitlines():
        if line.startswith("--- "):
            current = None if line[4:].strip() == "/dev/null" else line[4:].strip()[2:]
            if current is not None:
                files.setdefault(current, [])
        elif current is not None:
            files[current].append(line)
    return files


def pre_image(hunks: list[str]) -> list[str]:
    """Return the lines of a file as it was before hunks applied, filler where unknown."""
    out: list[str] = []
    i = 0
    while i < len(hunks):
        m = _HUNK.match(hunks[i])
        i += 1
        if not m:
            continue
        start = int(m.group(1))
        while len(out) < start - 1:
            out.append(f"/* line {len(out) + 1} */")
        while i < len(hunks) and not hunks[i].startswith("@@"):
            line = hunks[i]
            if line.startswith((" ", "-")) or line == "":
                out.append(line[1:])
            elif line.startswith("\\"):
                pass
            elif not line.startswith("+"):
                break
            i += 1
    return out


def commit_posting(repo: Path, diff: str, *, subject: str, author: str, author_date: str,
                   commit_date: str, trailers: list[str] = ()) -> str:
    """Commit diff onto files rebuilt from it, with the posting's subject, author and dates;
    return the commit id."""
    for name, hunks in _files(diff).items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(pre_image(hunks)) + "\n")
    git(repo, "add", "-A")
    if git(repo, "status", "--porcelain").strip():
        git(repo, "commit", "-q", "-m", "base for the next patch",
            env={"GIT_AUTHOR_DATE": commit_date, "GIT_COMMITTER_DATE": commit_date})
    git(repo, "apply", "--whitespace=nowarn", "-", stdin=diff + "\n")
    git(repo, "add", "-A")
    return commit(repo, subject=subject, author=author, author_date=author_date,
                  commit_date=commit_date, trailers=trailers, allow_empty=False)


def commit(repo: Path, *, subject: str, author: str, author_date: str, commit_date: str,
           trailers: list[str] = (), files: dict[str, str] | None = None,
           allow_empty: bool = True) -> str:
    """Commit files (or what is staged) with this subject, author, dates and trailers."""
    for name, text in (files or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        git(repo, "add", name)
    message = subject + "\n\nA real change.\n" + ("\n" + "\n".join(trailers) + "\n" if trailers else "")
    git(repo, "commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message,
        f"--author={author}", env={"GIT_AUTHOR_DATE": author_date, "GIT_COMMITTER_DATE": commit_date})
    return git(repo, "rev-parse", "HEAD").strip()


# Real postings of the virtualization list (../shared/data/lfdr-virtualization-list)
# and how the test tree takes them in.
GET_RID_V1 = "20230608140333.4083-1-jgross@suse.com"
GET_RID_V2 = "20231016123933.17284-1-jgross@suse.com"
GET_RID_V2_PART1 = "20231016123933.17284-2-jgross@suse.com"  # applied with a Link: trailer
GET_RID_V2_PART3 = "20231016123933.17284-4-jgross@suse.com"  # renamed on the way in: patch-id
GET_RID_V2_PART4 = "20231016123933.17284-5-jgross@suse.com"  # reworked diff: subject and author
CLEANUP_V7 = "20210311142319.4723-1-jgross@suse.com"
CLEANUP_V7_PART4 = "20210311142319.4723-5-jgross@suse.com"  # applied with b4's Message-Id:
CONVERT_ASM = "20230308154210.18454-1-jgross@suse.com"  # never merged
THREAD_FILES = ("virt-20210311-x86-major-paravirt-cleanup.mbox",
                "virt-20230308-x86-paravirt-convert-simple-paravirt-functions-to-asm.mbox",
                "virt-20230608-x86-paravirt-get-rid-of-paravirt-patching.mbox",
                "virt-20231016-x86-paravirt-get-rid-of-paravirt-patching.mbox")
JUERGEN = "Juergen Gross <jgross@suse.com>"


def unrelated_history(repo: Path) -> None:
    """Commits no posting here is about, two of them with a posted subject: one by
    another author, one by the same author years before the posting."""
    commit(repo, subject="vhost: fix a leak in the worker", author="Other Dev <other@example.com>",
           author_date="2015-02-01T10:00:00Z", commit_date="2015-02-03T10:00:00Z",
           files={"drivers/vhost/vhost.c": "int vhost;\n"})
    commit(repo, subject="x86/paravirt: move some functions and defines to alternative",
           author="Some One <someone@example.com>", author_date="2023-10-20T10:00:00Z",
           commit_date="2023-10-21T10:00:00Z", files={"arch/x86/kernel/other.c": "int a;\n"})
    commit(repo, subject="x86/paravirt: remove no longer needed paravirt patching code",
           author=JUERGEN, author_date="2019-05-01T10:00:00Z", commit_date="2019-05-02T10:00:00Z",
           files={"arch/x86/kernel/old.c": "int old;\n"})


def paravirt_history(repo: Path, diff_of) -> dict[str, str]:
    """Commit the merged postings as a maintainer would; return {name: commit id}.
    diff_of(message_id) gives a posting's diff as ingested."""
    shas = {}
    shas["cleanup"] = commit_posting(
        repo, diff_of(CLEANUP_V7_PART4), subject="x86/paravirt: switch time pvops functions to "
        "use static_call()", author=JUERGEN, author_date="2021-03-11T14:23:09Z",
        commit_date="2021-03-12T09:00:00Z",
        trailers=["Signed-off-by: Juergen Gross <jgross@suse.com>",
                  f"Message-Id: <{CLEANUP_V7_PART4}>"])
    git(repo, "tag", "v5.13-rc1")
    shas["part1"] = commit_posting(
        repo, diff_of(GET_RID_V2_PART1), subject="x86/paravirt: move some functions and defines "
        "to alternative", author=JUERGEN, author_date="2023-10-16T12:39:30Z",
        commit_date="2023-12-01T10:00:00Z",
        trailers=["Signed-off-by: Juergen Gross <jgross@suse.com>",
                  f"Link: https://lore.kernel.org/r/{GET_RID_V2_PART1}"])
    shas["part3"] = commit_posting(
        repo, diff_of(GET_RID_V2_PART3), subject="x86/paravirt: switch mixed paravirt/alternative "
        "calls to ALTERNATIVE_2 macros", author=JUERGEN, author_date="2023-10-16T12:39:32Z",
        commit_date="2023-12-01T10:01:00Z",
        trailers=["Signed-off-by: Juergen Gross <jgross@suse.com>"])
    shas["part4"] = commit(
        repo, subject="x86/paravirt: remove no longer needed paravirt patching code",
        author=JUERGEN, author_date="2023-10-16T12:39:33Z", commit_date="2023-12-01T10:02:00Z",
        trailers=["Signed-off-by: Juergen Gross <jgross@suse.com>"],
        files={"arch/x86/kernel/paravirt.c": "/* reworked on the way in */\n"})
    git(repo, "tag", "v6.8-rc1")
    return shas


def merged_database(path: Path, virt_dir: Path, tree_dir: Path, *, read_tree_too: bool = True) -> Path:
    """Build a tagged database of the four threads at path and, when asked, read a tree
    in which the paravirt postings were merged; return path."""
    from abiwatch.db import open_db
    from abiwatch.ingest.git_tree import read_tree
    from abiwatch.ingest.load import ingest
    from abiwatch.nlp.tagging import tag

    db = open_db(path)
    ingest(db, [str(virt_dir / f) for f in THREAD_FILES], progress=False)
    tag(db, progress=False, workers=1)
    if read_tree_too:
        repo = new_tree(tree_dir)
        unrelated_history(repo)
        paravirt_history(repo, lambda mid: db.conn.execute(
            "SELECT diff FROM patches WHERE message_id = ?", [mid]).fetchone()[0])
        read_tree(db, repo, patch_ids=True, progress=False)
    db.conn.close()
    return path
