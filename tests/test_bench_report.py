"""The benchmark's results table: each run's row lands at the end of its own table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report


def test_rows_go_to_the_end_of_their_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    table = tmp_path / "RESULTS.md"
    monkeypatch.setattr(report, "TABLE", table)
    table.write_text(
        "# Results\n\nIntro.\n\n"
        + report.HEADER
        + "| old run |\n\n## Batch ingest\n\n"
        + report.BATCH_HEADER
        + "| old batch |\n\nNotes after the tables.\n"
    )
    report._add_row(report.HEADER, "| new run |\n")
    report._add_row(report.BATCH_HEADER, "| new batch |\n")
    lines = table.read_text().splitlines()
    assert lines.index("| new run |") == lines.index("| old run |") + 1
    assert lines.index("| new batch |") == lines.index("| old batch |") + 1
    assert lines[-1] == "Notes after the tables."


def test_a_missing_table_is_started_at_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    table = tmp_path / "RESULTS.md"
    monkeypatch.setattr(report, "TABLE", table)
    report._add_row(report.BATCH_HEADER, "| first batch |\n")
    text = table.read_text()
    assert text.endswith(report.BATCH_HEADER + "| first batch |\n")
