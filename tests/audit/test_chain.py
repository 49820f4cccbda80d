from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.fixtures.cli import execute, run_cli, scalar
from tests.fixtures.databases import ON_POSTGRES
from tests.fixtures.factories import PASSWORD, bearer, make_clinic, make_user


async def audit_rows(db) -> list[AuditEntry]:
    return list((await db.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())


class TestChainedWrites:
    async def test_each_write_adds_one_chained_row(self, client, db, settings):
        clinic = await make_clinic(db)
        admin = await make_user(db, clinic, "admin")
        before = await audit_rows(db)
        r = await client.post(
            "/api/v1/chairs", json={"name": "Chair 9"}, headers=bearer(admin, settings)
        )
        assert r.status_code == 201
        after = await audit_rows(db)
        assert len(after) == len(before) + 1
        row = after[-1]
        assert row.action == "CHAIR_CREATED"
        assert row.actor_id == str(admin.id)
        assert row.entity_id == r.json()["id"]
        assert row.after == {"name": "Chair 9", "is_active": True}
        assert row.seq == before[-1].seq + 1
        assert row.prev_hash == before[-1].hash

    async def test_a_refused_write_leaves_no_row(self, client, db, settings):
        clinic = await make_clinic(db)
        admin = await make_user(db, clinic, "admin")
        await client.post(
            "/api/v1/chairs", json={"name": "Chair 1"}, headers=bearer(admin, settings)
        )
        count = len(await audit_rows(db))
        r = await client.post(
            "/api/v1/chairs", json={"name": "Chair 1"}, headers=bearer(admin, settings)
        )
        assert r.status_code == 409
        assert len(await audit_rows(db)) == count

    async def test_admin_pages_through_own_clinic_only(self, client, db, settings):
        a, b = await make_clinic(db), await make_clinic(db)
        admin_a = await make_user(db, a, "admin")
        await make_user(db, b, "nurse")
        r = await client.get("/api/v1/audit?limit=2", headers=bearer(admin_a, settings))
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) == 2
        assert {i["clinic_id"] for i in page["items"]} == {str(a.id)}
        rest = await client.get(
            f"/api/v1/audit?after_seq={page['next_after_seq']}", headers=bearer(admin_a, settings)
        )
        assert all(i["clinic_id"] == str(a.id) for i in rest.json()["items"])
        assert all(i["seq"] > page["next_after_seq"] for i in rest.json()["items"])


def populate(url: str) -> None:
    for user, role in (("nurse1", "nurse"), ("doc1", "physician")):
        result = run_cli(
            url,
            "create-user",
            "--clinic",
            "Oslo",
            "--username",
            user,
            "--role",
            role,
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output


class TestVerifyAudit:
    def test_intact_chain_passes(self, migrated_url):
        populate(migrated_url)
        result = run_cli(migrated_url, "verify-audit")
        assert result.exit_code == 0, result.output
        assert "audit chain intact: 3 rows" in result.output

    def test_altered_after_json_fails_naming_the_row(self, migrated_url):
        populate(migrated_url)
        if ON_POSTGRES:
            execute(
                migrated_url,
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
                """UPDATE audit_log SET "after" = '{"username": "mallory", "role": "admin", "display_name": ""}' WHERE seq = 2""",
                "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete",
            )
        else:
            execute(
                migrated_url,
                "DROP TRIGGER audit_log_no_update",
                """UPDATE audit_log SET "after" = '{"username": "mallory", "role": "admin", "display_name": ""}' WHERE seq = 2""",
            )
        result = run_cli(migrated_url, "verify-audit")
        assert result.exit_code == 1
        assert "seq 2" in result.output
        assert "content" in result.output

    @pytest.mark.parametrize(
        "statement",
        [
            """UPDATE audit_log SET action = 'NOTHING' WHERE seq = 1""",
            """DELETE FROM audit_log WHERE seq = 1""",
        ],
    )
    def test_update_and_delete_are_refused_by_the_database(self, migrated_url, statement):
        populate(migrated_url)
        with pytest.raises(Exception, match="append-only"):
            execute(migrated_url, statement)
        assert scalar(migrated_url, "SELECT count(*) FROM audit_log") == 3
        assert run_cli(migrated_url, "verify-audit").exit_code == 0
