"""`ketamine-monitor export` (issue 11 point 5): same export as the API, audited as the CLI."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle

from app.registry.service.export_rows import data_dictionary
from tests.fixtures.cli import run_cli, scalar
from tests.fixtures.factories import PASSWORD


def clinic_with_a_user(url: str) -> None:
    result = run_cli(
        url,
        "create-user",
        "--clinic",
        "Oslo",
        "--username",
        "kari",
        "--role",
        "physician",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output


def test_csv_export_writes_the_dictionary_header_and_is_audited(migrated_url, tmp_path):
    clinic_with_a_user(migrated_url)
    out = tmp_path / "export.csv"
    result = run_cli(
        migrated_url, "export", "--clinic", "Oslo", "--from", "2026-11-01", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0].split(",")
    assert header == [c[0] for c in data_dictionary()]
    assert (
        scalar(
            migrated_url,
            "SELECT count(*) FROM audit_log WHERE action = 'REGISTRY_EXPORTED' "
            "AND actor_type = 'cli'",
        )
        == 1
    )


def test_fhir_export_to_stdout_validates(migrated_url):
    clinic_with_a_user(migrated_url)
    result = run_cli(migrated_url, "export", "--clinic", "Oslo", "--format", "fhir")
    assert result.exit_code == 0, result.output
    Bundle.model_validate(json.loads(result.output))


def test_bad_arguments_fail_cleanly(migrated_url):
    clinic_with_a_user(migrated_url)
    result = run_cli(migrated_url, "export", "--clinic", "Oslo", "--format", "xml")
    assert result.exit_code == 2
    result = run_cli(migrated_url, "export", "--clinic", "Oslo", "--from", "yesterday")
    assert result.exit_code == 2
    assert "invalid --from" in result.output


def test_readme_documents_every_export_column(project_root):
    readme = (project_root / "README.md").read_text()
    missing = [c for c, *_ in data_dictionary(identified=True) if f"| `{c}` |" not in readme]
    assert not missing
