"""The intake HTTP surface: list files in, the canonical template out, quarantine and enrollment
transitions — each within the caller's role and admin-unit scope, bad input answered with the
one error schema."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from gateway.db.tables import audit_event, enrollment, quarantine_row
from gateway.security.principal import Actor
from gateway.services import enrollments, intake
from gateway.services.context import Services
from mappings.canonical import HEADERS_VI
from tests.e2e.seed import two_enrollments, user_bearer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "welfare"
UPLOAD = "/api/v1/intake/files?programme=ND20-TCXH&period=2026-07&mapping=provinces/hcm_btxh_csv"


def _upload(client: Any, headers: dict[str, str], body: bytes, name: str, url: str = UPLOAD) -> Any:
    return client.post(
        url,
        headers=headers,
        data={"file": (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def _assert_error_schema(body: dict[str, Any], status: int) -> None:
    assert body["status"] == status and body["code"] and body["message"] and body["message_vi"]
    for error in body.get("errors", []):
        assert {"field", "rule", "message", "message_vi"} <= set(error)


def test_a_list_file_uploaded_twice_is_imported_once_and_a_wrong_file_is_refused(
    client: Any, svc: Services
) -> None:
    province = user_bearer(svc, "tinh79", "province_officer", "79", "province")
    body = (FIXTURES / "hcm_btxh_2026-07.csv").read_bytes()
    first = _upload(client, province, body, "hcm.csv")
    assert first.status_code == 200, first.json
    assert (first.json["status"], first.json["accepted"], first.json["quarantined"]) == (
        "done",
        5,
        0,
    )
    again = _upload(client, province, body, "hcm.csv")
    assert (
        again.json["status"] == "duplicate" and again.json["import_id"] == first.json["import_id"]
    )
    workbook = (FIXTURES / "commune_sheets_2026-07.xlsx").read_bytes()
    refused = _upload(client, province, workbook, "hcm.xlsx")
    assert refused.status_code == 422
    _assert_error_schema(refused.json, 422)
    assert refused.json["code"] == "intake.file_rejected"
    assert refused.json["errors"][0]["rule"] == "file.not_csv"
    bad_args = _upload(client, province, body, "hcm.csv", UPLOAD.replace("2026-07", "July"))
    assert bad_args.status_code == 422 and bad_args.json["errors"][0]["field"] == "period"
    _assert_error_schema(bad_args.json, 422)
    auditor = user_bearer(svc, "kiemtoan", "auditor", None)
    assert _upload(client, auditor, body, "hcm.csv").status_code == 403
    with svc.db.read() as conn:
        assert len(conn.execute(select(enrollment.c.id)).all()) == 5


def test_the_template_downloads_as_csv_and_xlsx_and_imports_as_is(
    client: Any, svc: Services
) -> None:
    as_csv = client.get("/api/v1/intake/template?format=csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert "attachment" in as_csv.headers["Content-Disposition"]
    header = as_csv.data.decode("utf-8-sig").splitlines()[0].split(",")
    assert tuple(header) == HEADERS_VI
    as_xlsx = client.get("/api/v1/intake/template?format=xlsx")
    assert as_xlsx.status_code == 200 and as_xlsx.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(as_xlsx.data), read_only=True)
    first_row = next(book.worksheets[0].iter_rows(values_only=True))
    assert tuple(first_row) == HEADERS_VI and len(book.worksheets) == 2
    book.close()
    refused = client.get("/api/v1/intake/template?format=pdf")
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "format"
    # a province exports straight to the template: it imports without a mapping of its own
    commune = user_bearer(svc, "xa26743", "commune_officer", "26743")
    url = "/api/v1/intake/files?programme=ND20-TCXH&period=2026-07&mapping=canonical"
    imported = _upload(client, commune, as_csv.data, "mau.csv", url)
    assert imported.status_code == 200 and imported.json["accepted"] == 1


def _quarantine_two_rows(svc: Services, tmp_path: Path) -> dict[str, int]:
    """Row 2 (commune 26743) and row 4 (commune 26704) have impossible birth dates."""
    text = (FIXTURES / "hcm_btxh_2026-07.csv").read_text(encoding="utf-8-sig")
    bad = text.replace("24/12/1951", "31/02/1951").replace("30/06/1940", "31/06/1940")
    path = tmp_path / "hcm.csv"
    path.write_text(bad, encoding="utf-8-sig")
    from adapters.welfare.files import open_list
    from mappings import engine

    summary = intake.import_file(
        svc,
        Actor.system("test"),
        open_list(path, engine.load("provinces/hcm_btxh_csv").source),
        mapping="provinces/hcm_btxh_csv",
        programme_code="ND20-TCXH",
        period="2026-07",
    )
    assert (summary.accepted, summary.quarantined) == (3, 2)
    with svc.db.read() as conn:
        rows = conn.execute(select(quarantine_row.c.id, quarantine_row.c.row_number)).all()
    return {
        "26743": next(r.id for r in rows if r.row_number == 2),
        "26704": next(r.id for r in rows if r.row_number == 4),
    }


def test_quarantine_is_read_corrected_and_discarded_within_scope(
    client: Any, svc: Services, tmp_path: Path
) -> None:
    ids = _quarantine_two_rows(svc, tmp_path)
    mine, other = ids["26743"], ids["26704"]
    officer = user_bearer(svc, "xa26743", "commune_officer", "26743")
    listed = client.get("/api/v1/quarantine", headers=officer).json
    assert [r["id"] for r in listed] == [mine]
    assert listed[0]["unit"] == "2025-07:26743" and listed[0]["location"] == "line 6"
    assert listed[0]["problems"][0]["rule"] == "date.invalid"
    # another commune's row reads as absent, and cannot be corrected or discarded
    assert client.get(f"/api/v1/quarantine/{other}", headers=officer).status_code == 404
    fix = {"corrected": {"birth_date": "30/06/1940"}}
    assert (
        client.post(f"/api/v1/quarantine/{other}/replay", headers=officer, json=fix).status_code
        == 404
    )
    discard = {"reason": "not on our list"}
    assert (
        client.post(
            f"/api/v1/quarantine/{other}/discard", headers=officer, json=discard
        ).status_code
        == 404
    )
    detail = client.get(f"/api/v1/quarantine/{mine}", headers=officer).json
    assert detail["fields"]["birth_date"] == "31/02/1951"
    assert detail["fields"]["personal_id"] == "079151000202"  # the audited read shows it
    unknown = client.post(
        f"/api/v1/quarantine/{mine}/replay", headers=officer, json={"corrected": {"hobby": "x"}}
    )
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"].startswith("corrected")
    _assert_error_schema(unknown.json, 422)
    still = client.post(
        f"/api/v1/quarantine/{mine}/replay",
        headers=officer,
        json={"corrected": {"birth_date": "32/12/1951"}},
    ).json
    assert still["accepted"] is False and still["problems"][0]["rule"] == "date.invalid"
    done = client.post(
        f"/api/v1/quarantine/{mine}/replay",
        headers=officer,
        json={"corrected": {"birth_date": "24/12/1951"}},
    ).json
    assert done["accepted"] is True and done["enrollment_id"]
    closed = client.post(
        f"/api/v1/quarantine/{mine}/replay",
        headers=officer,
        json={"corrected": {"birth_date": "24/12/1951"}},
    )
    assert closed.status_code == 409 and closed.json["code"] == "quarantine.closed"
    neighbour = user_bearer(svc, "xa26704", "commune_officer", "26704")
    short = client.post(
        f"/api/v1/quarantine/{other}/discard", headers=neighbour, json={"reason": "x"}
    )
    assert short.status_code == 422 and short.json["errors"][0]["field"] == "reason"
    gone = client.post(
        f"/api/v1/quarantine/{other}/discard",
        headers=neighbour,
        json={"reason": "a paper record entered twice"},
    )
    assert gone.status_code == 204
    discarded = client.get("/api/v1/quarantine?status=discarded", headers=neighbour).json
    assert [(r["id"], r["resolution"]) for r in discarded] == [
        (other, "a paper record entered twice")
    ]
    with svc.db.read() as conn:
        actions = set(conn.execute(select(audit_event.c.action)).scalars())
    assert {"quarantine.read", "quarantine.replay", "quarantine.discard"} <= actions


def test_enrollment_transitions_need_a_reason_a_role_and_the_scope(
    client: Any, svc: Services
) -> None:
    mine, other = two_enrollments(svc)
    officer = user_bearer(svc, "xa26743", "commune_officer", "26743")
    url = f"/api/v1/enrollments/{mine}/transitions"
    no_reason = client.post(url, headers=officer, json={"to": "cancelled"})
    assert no_reason.status_code == 422 and no_reason.json["errors"][0]["field"] == "reason"
    odd = client.post(url, headers=officer, json={"to": "paid", "reason": "paid in cash"})
    assert odd.status_code == 422 and odd.json["errors"][0]["field"] == "to"
    _assert_error_schema(odd.json, 422)
    rejected = client.post(url, headers=officer, json={"to": "rejected", "reason": "not eligible"})
    assert rejected.status_code == 403 and rejected.json["code"] == "role.forbidden"
    elsewhere = client.post(
        f"/api/v1/enrollments/{other}/transitions",
        headers=officer,
        json={"to": "cancelled", "reason": "moved away"},
    )
    assert elsewhere.status_code == 404
    cancelled = client.post(url, headers=officer, json={"to": "cancelled", "reason": "moved away"})
    assert cancelled.status_code == 200
    assert cancelled.json == {"id": mine, "from": "proposed", "to": "cancelled"}
    final = client.post(url, headers=officer, json={"to": "proposed", "reason": "came back"})
    assert final.status_code == 409 and final.json["code"] == "enrollment.invalid_transition"
    with svc.db.read() as conn:
        history = enrollments.history(conn, mine)
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "proposed"),
        ("proposed", "cancelled"),
    ]
    assert history[1]["actor"] == "xa26743 (commune_officer)"
    assert history[1]["reason"] == "moved away"
