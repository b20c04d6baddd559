"""`abiwatch model`: train the concern classifier from labelled threads."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
LABELS = FIXTURES / "nlp_devset"
TEST_THREADS = sorted(FIXTURES.glob("nlp_testset*/threads"))
SETS = ("tuning-relabel", "tuning-random", "tuning-topic", "tuning-judged")


@click.group("model")
def model_group() -> None:
    """The learned concern classifier (spaCy text classifier plus a calibrated combiner)."""


@model_group.command("train")
@click.option("--labels", "labels_dir", type=click.Path(file_okay=False, path_type=Path),
              default=LABELS, show_default=True,
              help="Folder of label sets (NAME.jsonl plus the thread files they name).")
@click.option("--set", "sets", multiple=True, default=SETS, show_default=True,
              help="Label sets to train on (repeatable). Never the frozen test set.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write textcat/ and combiner.json (default: the shipped model).")
@click.option("--with-corrections", is_flag=True,
              help="Also learn from the corrections in --db: a concern marked not-a-concern "
                   "makes its sentence a negative, one reopened or resolved by hand a positive.")
@click.pass_obj
def model_train(obj, labels_dir: Path, sets: tuple[str, ...], out_dir: Path | None,
                with_corrections: bool) -> None:
    """Train the sentence classifier with `spacy train` and fit the combiner.

    Reproducible: the same labels give the same model (seeded). The result
    replaces the shipped model in nlp/data/model/ unless --out says otherwise;
    run `abiwatch tag` afterwards (a new model re-tags everything).
    """
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest
    from abiwatch.nlp.classifier import MODEL_DIR, load_combiner, load_textcat
    from abiwatch.nlp.training import train

    if any(s.startswith("test") for s in sets):
        raise click.UsageError("the frozen test set is for scoring once, never for training")
    labels, judged = [], []
    files = set()
    for name in sets:
        path = labels_dir / f"{name}.jsonl"
        if not path.exists():
            raise click.UsageError(f"no label set {path}; pass --labels DIR or --set NAME")
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    lab = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise click.UsageError(f"{path}:{n}: not a JSON label line ({exc.msg}); "
                                           "check it with bench/check_labels.py") from exc
                # a judged sentence (has "sentence") or a labelled message (has "concerns")
                (judged.append(lab) if "sentence" in lab else labels.append((name, lab)))
                files.add(str(labels_dir / lab["file"]))
    out = out_dir or MODEL_DIR
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corrections = _corrections(obj, Path(tmp)) if with_corrections else None
        if corrections is not None:
            files.add(str(Path(tmp) / "corrected"))
        db = open_db(Path(tmp) / "train.db")
        ingest(db, sorted(files), progress=False)
        report = train(db, labels, out, judged=judged, held_out_subjects=_test_subjects(Path(tmp)),
                       corrections=corrections)
    load_combiner.cache_clear()
    load_textcat.cache_clear()
    click.echo(json.dumps(report, indent=1))


def _corrections(obj, tmp: Path) -> list[dict]:
    """Return the sentence labels people gave by correcting concerns in the --db database,
    with the mail they are in written to tmp/corrected/ (to be ingested for training)."""
    from abiwatch.db import DatabaseMissing, open_db
    from abiwatch.db.correction_reports import raw_mail, training_labels

    try:
        db = open_db(obj.db_path, readonly=True)
    except DatabaseMissing as exc:
        raise click.ClickException(str(exc)) from exc
    labels = training_labels(db)
    folder = tmp / "corrected"
    folder.mkdir()
    # One .eml per message: ingest reads them back byte for byte, as it read them first.
    for n, raw in enumerate(raw_mail(db, [lab["message_id"] for lab in labels]).values()):
        (folder / f"{n:06d}.eml").write_bytes(raw)
    db.conn.close()
    click.echo(f"learning from {len(labels)} corrected concerns in {obj.db_path}", err=True)
    return labels


def _test_subjects(tmp: Path) -> set[str]:
    """Normalised subjects of the frozen test sets' threads (their subjects only: their
    labels are never read), so no version of a test thread's series is trained on."""
    from abiwatch.db import open_db
    from abiwatch.ingest.load import ingest

    if not TEST_THREADS:
        return set()
    db = open_db(tmp / "test-subjects.db")
    ingest(db, [str(p) for p in TEST_THREADS], progress=False)
    return {r[0] for r in db.execute("SELECT DISTINCT norm_subject FROM messages "
                                     "WHERE norm_subject IS NOT NULL AND norm_subject != ''")}


def register(cli: click.Group) -> None:
    cli.add_command(model_group)
