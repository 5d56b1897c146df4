"""The HTTP surface: probes, OpenAPI, the error schema, tokens and scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.db.tables import enrollment
from gateway.services.context import Services
from tests.e2e.seed import two_enrollments, user_bearer


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_probes_docs_and_metrics(client: Any) -> None:
    assert client.get("/health").json == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger-ui" in docs.data
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000  # served locally, no CDN
    bundle.close()
    spec = client.get("/api/openapi.json").json
    assert "/api/v1/enrollments" in spec["paths"] and "/api/v1/intake/rows" in spec["paths"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"ansinh_http_requests_total" in metrics.data


def test_programmes_show_the_amount_in_force(client: Any) -> None:
    programmes = {p["code"]: p for p in client.get("/api/v1/programmes").json}
    assert programmes["ND176-HTXH"]["amount_now"] == 500_000
    assert programmes["HCM-2021-GOI3"]["amount_now"] == 1_000_000


def test_admin_unit_lookup_and_its_errors(client: Any) -> None:
    old = client.get("/api/v1/admin-units?scheme=legacy63&code=00004").json
    assert old["scheme"] == "legacy63" and old["successors"][0]["code"] == "00004"
    missing = client.get("/api/v1/admin-units?scheme=2025-07&code=99999")
    assert missing.status_code == 422
    body = missing.json
    assert body["code"] == "validation_failed" and body["errors"][0]["rule"] == "admin_unit.unknown"
    assert body["message_vi"] and body["message"] != body["message_vi"]
    malformed = client.get("/api/v1/admin-units?code=abc")
    assert malformed.status_code == 422 and malformed.json["errors"][0]["field"] == "code"


def test_requests_need_a_valid_token(client: Any, svc: Services) -> None:
    assert client.get("/api/v1/enrollments").json["code"] == "auth.required"
    bad = client.get("/api/v1/enrollments", headers=_auth("ansinh_nope"))
    assert bad.status_code == 401 and bad.json["code"] == "auth.token"
    token = user_bearer(svc, "auditor1", "auditor", None)
    assert client.get("/api/v1/enrollments", headers=token).status_code == 200
    with svc.db.read() as conn:
        from gateway.db.tables import api_token

        stored = conn.execute(select(api_token.c.token_hash)).scalar_one()
    raw = token["Authorization"].removeprefix("Bearer ")
    assert raw not in stored and len(stored) == 64  # only the hash is kept


def test_wrong_types_in_a_body_get_the_error_schema_and_write_nothing(
    client: Any, svc: Services
) -> None:
    token = user_bearer(svc, "xa1", "commune_officer", "26743")
    response = client.post(
        "/api/v1/intake/rows",
        headers=token,
        json={
            "programme": "ND20-TCXH",
            "period": "July",
            "source_key": 5,
            "rows": [{"nonsense": 1}],
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json["errors"]}
    assert {"period", "source_key"} <= fields and any(f.startswith("rows") for f in fields)
    unknown = client.post(
        "/api/v1/intake/rows",
        headers=token,
        json={
            "programme": "NOPE",
            "period": "2026-07",
            "source_key": "k",
            "rows": [{"full_name": "A"}],
        },
    )
    assert unknown.status_code == 422 and unknown.json["errors"][0]["rule"] == "programme.unknown"
    with svc.db.read() as conn:
        assert conn.execute(select(enrollment.c.id)).first() is None


def test_a_commune_officer_cannot_read_another_commune_by_editing_the_url(
    client: Any, svc: Services
) -> None:
    ids = two_enrollments(svc)
    mine = user_bearer(svc, "benthanh", "commune_officer", "26743")
    listed = client.get("/api/v1/enrollments", headers=mine).json
    assert [e["id"] for e in listed] == [ids[0]]
    assert listed[0]["personal_id"] == "079*******01" and listed[0]["full_name"] == "Nguyễn V. A."
    assert client.get(f"/api/v1/enrollments/{ids[0]}", headers=mine).status_code == 200
    assert client.get(f"/api/v1/enrollments/{ids[1]}", headers=mine).status_code == 404
    province = user_bearer(svc, "hcm", "province_officer", "79", "province")
    assert len(client.get("/api/v1/enrollments", headers=province).json) == 2
    # a commune officer may not approve at all
    denied = client.post(
        "/api/v1/enrollments/approve",
        headers=mine,
        json={"ids": [ids[0]], "reason": "looks fine"},
    )
    assert denied.status_code == 403 and denied.json["code"] == "role.forbidden"
