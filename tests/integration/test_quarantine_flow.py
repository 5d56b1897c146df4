"""Quarantine round trip, whole-file rejection, screening of the generator's planted duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.welfare.files import open_list
from gateway.db.tables import enrollment, flag, import_batch, quarantine_row
from gateway.security.principal import Actor
from gateway.services import intake, quarantine, screen, status
from gateway.services.context import Services
from gateway.services.demo import build_world
from mappings import engine
from mappings.errors import FileRejected

FIXTURES = Path(__file__).parents[1] / "fixtures" / "welfare"
SYSTEM = Actor.system("test")
CSV_MAPPING = "provinces/hcm_btxh_csv"


def _import(svc: Services, path: Path, mapping: str = CSV_MAPPING) -> intake.ImportSummary:
    return intake.import_file(
        svc,
        SYSTEM,
        open_list(path, engine.load(mapping).source),
        mapping=mapping,
        programme_code="ND20-TCXH",
        period="2026-07",
    )


def test_reject_correct_replay_accept(svc: Services, tmp_path: Path) -> None:
    text = (FIXTURES / "hcm_btxh_2026-07.csv").read_text(encoding="utf-8-sig")
    bad = text.replace("079151000202", "07915100020").replace("24/12/1951", "31/02/1951")
    path = tmp_path / "hcm.csv"
    path.write_text(bad, encoding="utf-8-sig")
    summary = _import(svc, path)
    assert (summary.accepted, summary.quarantined) == (4, 1)
    with svc.db.read() as conn:
        (row,) = quarantine.list_rows(conn, SYSTEM)
    assert row["location"] == "line 6" and row["source"] == "hcm.csv"
    assert {p["rule"] for p in row["problems"]} == {
        "personal_id.leading_zero_lost",
        "date.invalid",
    }
    pid_problem = next(p for p in row["problems"] if p["field"] == "personal_id")
    assert pid_problem["value"] == "079******20" and pid_problem["message_vi"]
    detail = quarantine.get_row(svc, SYSTEM, row["id"])
    assert detail["fields"]["birth_date"] == "31/02/1951"
    again = quarantine.replay(svc, SYSTEM, row["id"], {"birth_date": "24/12/1951"})
    assert not again.accepted and [p.rule for p in again.problems] == [
        "personal_id.leading_zero_lost"
    ]
    done = quarantine.replay(
        svc, SYSTEM, row["id"], {"birth_date": "24/12/1951", "personal_id": "079151000202"}
    )
    assert done.accepted and done.enrollment_id is not None
    with svc.db.read() as conn:
        assert quarantine.list_rows(conn, SYSTEM) == []
        state = conn.execute(
            select(enrollment.c.state).where(enrollment.c.id == done.enrollment_id)
        ).scalar_one()
        reports = {
            s.source_ref: s
            for s in status.statuses(conn, "file:hcm_btxh_csv:ND20-TCXH:2026-07:hcm.csv")
        }
    assert state == "proposed" and reports["HS-0002"].state == "proposed"
    # the same file again does nothing twice
    assert _import(svc, path).status == "duplicate"


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("cp1258", "file.encoding"),
        ("workbook_as_csv", "file.not_csv"),
        ("missing_column", "column.missing"),
        ("wrong_sheet", "sheet.missing"),
    ],
)
def test_a_file_that_is_not_what_it_claims_is_rejected_whole(
    svc: Services, tmp_path: Path, case: str, rule: str
) -> None:
    source = (FIXTURES / "hcm_btxh_2026-07.csv").read_text(encoding="utf-8-sig")
    mapping = CSV_MAPPING
    path = tmp_path / "list.csv"
    if case == "cp1258":
        path.write_bytes(source.encode("cp1258", errors="replace"))
    elif case == "workbook_as_csv":
        path = tmp_path / "list.xlsx"
        path.write_bytes((FIXTURES / "commune_sheets_2026-07.xlsx").read_bytes())
    elif case == "missing_column":
        path.write_text(source.replace("Ngày tháng năm sinh", "Ngày"), encoding="utf-8-sig")
    else:
        path = tmp_path / "list.xlsx"
        path.write_bytes((FIXTURES / "commune_sheets_2026-07.xlsx").read_bytes())
        mapping = str(tmp_path / "named.toml")
        Path(mapping).write_text(
            (engine.MAPPINGS_DIR / "provinces/xlsx_commune_sheets.toml")
            .read_text(encoding="utf-8")
            .replace('sheets = ["[0-9]*"]', 'sheets = ["Danh sách"]'),
            encoding="utf-8",
        )
    with pytest.raises(FileRejected) as exc:
        _import(svc, path, mapping)
    assert exc.value.rule == rule and exc.value.message and exc.value.message_vi
    with svc.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(enrollment)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(quarantine_row)).scalar_one() == 0
        batch = conn.execute(select(import_batch.c.status, import_batch.c.error)).one()
    assert batch.status == "rejected" and batch.error.startswith(rule)


def test_screening_catches_every_planted_duplicate(svc: Services) -> None:
    world = build_world(900, seed=5)
    for source in world.welfare.lists():
        intake.import_rows(
            svc,
            SYSTEM,
            source_key=source.key,
            source_kind="fake",
            mapping=source.mapping,
            programme_code=source.programme,
            period=source.period,
            content_hash=source.version,
            rows=world.welfare.rows(source),
        )
    for code in ("ND20-TCXH", "ND20-NCT80", "ND176-HTXH"):
        screen.screen(svc, code, world.period)
    planted = [
        t
        for t in world.lists.truth
        if t.defect in ("cross_commune_duplicate", "exclusive_programme")
    ]
    assert {t.defect for t in planted} == {"cross_commune_duplicate", "exclusive_programme"}
    with svc.db.read() as conn:
        imports = dict(conn.execute(select(import_batch.c.source_key, import_batch.c.id)).all())
        for t in planted:
            if t.defect == "cross_commune_duplicate":  # second listing held, first one flagged
                problems = conn.execute(
                    select(quarantine_row.c.problems).where(
                        quarantine_row.c.import_id == imports[t.list_key],
                        quarantine_row.c.row_number == t.row_number,
                    )
                ).scalar_one()
                assert problems[0]["rule"] == "enrollment.duplicate"
                assert "đã có trong danh sách" in problems[0]["message_vi"]
            else:  # listed for the social pension too: the lower claim is flagged, once
                row = conn.execute(
                    select(enrollment.c.person_id).where(
                        enrollment.c.import_id == imports[t.list_key],
                        enrollment.c.source_row == t.row_number,
                    )
                ).one()
                kinds = conn.execute(
                    select(flag.c.kind, flag.c.detail)
                    .join(enrollment, enrollment.c.id == flag.c.enrollment_id)
                    .where(
                        enrollment.c.person_id == row.person_id,
                        flag.c.kind == "exclusive_programme",
                    )
                ).all()
                assert len(kinds) == 1 and kinds[0].detail["policy"] == "highest_wins"
        dup_flags = conn.execute(
            select(func.count()).select_from(flag).where(flag.c.kind == "duplicate_in_intake")
        ).scalar_one()
    assert dup_flags == sum(t.defect == "cross_commune_duplicate" for t in planted)
