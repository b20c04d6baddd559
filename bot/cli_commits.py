"""`abiwatch commits`: read a kernel git tree so answers can say what was merged."""

from __future__ import annotations

import click


def commits_summary(st) -> str:
    """Return the summary printed after a tree was read and matched."""
    m = st.matches
    how = "whole history" if st.full_read else "new commits since the last read"
    lines = [f"read {st.read} commits ({how}; {st.new} new) from {st.path} in {st.seconds:.1f}s",
             f"postings matched to commits: {m.total} ({m.link} by Link:/Message-Id:, "
             f"{m.patch_id} by patch-id, {m.subject} by subject and author)",
             f"series merged: {m.series_merged}, partly merged: {m.series_partial}"]
    if st.patch_ids:
        lines.insert(1, f"patch-ids computed for {st.patch_ids} commits")
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    @cli.command("commits")
    @click.argument("tree", type=click.Path(exists=True, file_okay=False))
    @click.option("--ref", default="HEAD", show_default=True,
                  help="Branch, tag or commit whose history is read.")
    @click.option("--path", "paths", multiple=True, metavar="PATH",
                  help="Only commits touching PATH (repeatable), e.g. --path arch/x86 "
                       "--path drivers/hv: much faster on a whole kernel history.")
    @click.option("--patch-ids", is_flag=True,
                  help="Also compute each commit's `git patch-id --stable`, to match postings "
                       "whose subject changed on the way in (slower: every diff is read).")
    @click.option("--window", "window_days", type=click.IntRange(1, 3650), default=365,
                  show_default=True,
                  help="Days a commit may follow its posting and still match it by "
                       "patch-id or by subject and author.")
    @click.option("--abandoned-after", "abandoned_days", type=click.IntRange(1, 36500),
                  default=365, show_default=True,
                  help="Days without activity after which an unmerged latest version is "
                       "called abandoned (only if the tree read reaches that far).")
    @click.option("--progress/--no-progress", default=None,
                  help="Progress bar (default: only on a terminal).")
    @click.pass_obj
    def commits(obj, tree, ref, paths, patch_ids, window_days, abandoned_days, progress) -> None:
        """Read a kernel git tree's commits and match them to the patches posted on the list.

        TREE is a local clone (a bare one is enough: `git clone --bare
        https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git`).
        Re-running reads only the commits added since the last read, then
        matches again: run it after ingesting new mail too. A posting matches a
        commit by a Link:/Message-Id: trailer naming it, by the same patch-id
        (--patch-ids), or by the same subject and author within --window days.
        Answers then say which series were merged, in which release, and which
        concerns were still open when they were.
        """
        from abiwatch.ingest.git_tree import GitError, read_tree

        db = obj.db(create=True)  # commits may be read before the mail; matching runs again later
        try:
            st = read_tree(db, tree, ref=ref, paths=paths, patch_ids=patch_ids,
                           window_days=window_days, abandoned_days=abandoned_days,
                           progress=progress)
        except GitError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(commits_summary(st))
