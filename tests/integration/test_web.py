"""The officer workspace, public lookup, doorstep QR and exports over HTTP (Flask test client),
on SQLite and PostgreSQL, through the same services and audit trail as the API."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from gateway.db.tables import (
    audit_event,
    confirmation,
    enrollment,
    flag,
    mismatch_case,
    outbox_message,
    qr_token_use,
)
from gateway.services import qr, stats
from gateway.services.context import Services
from tests.e2e.seed import PASSWORD, PEOPLE, WebWorld, seed

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def world(svc: Services, tmp_path: Path) -> WebWorld:
    return seed(svc, tmp_path / "certs", people=300)


def csrf(client: Any, path: str = "/login") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: Any, username: str) -> None:
    token = csrf(client)
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]


def text(answer: Any) -> str:
    return answer.get_data(as_text=True)


def test_sign_in_errors_next_to_the_field_csrf_and_expiry(client: Any, world: WebWorld) -> None:
    assert client.get("/dashboard").status_code == 302  # signed out: to the sign-in page
    token = csrf(client)
    wrong = client.post(
        "/login", data={"username": "canbotinh", "password": "sai-mat-khau", "csrf_token": token}
    )
    assert wrong.status_code == 422
    assert 'id="password-error"' in text(wrong) and "Sai tên đăng nhập hoặc mật khẩu" in text(wrong)
    empty = client.post("/login", data={"username": "", "password": "", "csrf_token": token})
    assert 'id="username-error"' in text(empty) and "Bắt buộc nhập" in text(empty)
    forged = client.post("/login", data={"username": "canbotinh", "password": PASSWORD})
    assert forged.status_code == 400 and "csrf" in text(forged)
    login(client, "canbotinh")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Tổng quan" in text(page)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    with client.session_transaction() as session:
        session["seen"] = int(time.time()) - 31 * 60  # idle longer than session_minutes (30)
    expired = client.get("/dashboard")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]
    assert client.get("/cases").status_code == 302  # the session is gone, not just refreshed


def test_english_switch_and_escaped_output(client: Any, world: WebWorld, svc: Services) -> None:
    login(client, "bo")
    token = csrf(client, "/dashboard")
    client.post("/lang/en", data={"csrf_token": token, "next": "/dashboard"})
    assert "Dashboard" in text(client.get("/dashboard"))
    with svc.db.begin() as conn:  # a hostile value in data is shown as text, never as markup
        conn.execute(
            insert(outbox_message).values(
                topic="registry.tick",
                dedup_key="<script>alert(1)</script>",
                payload={},
                status="dead",
                attempts=8,
                next_attempt_at=svc.clock(),
                last_error="boom",
                created_at=svc.clock(),
            )
        )
    page = text(client.get("/ops/dead-letters"))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_dashboard_figures_and_drill_down(client: Any, world: WebWorld, svc: Services) -> None:
    login(client, "bo")
    with svc.db.read() as conn:
        paid = conn.execute(
            select(func.count()).select_from(enrollment).where(enrollment.c.state == "paid")
        ).scalar_one()
    country = text(client.get("/dashboard"))
    assert "Toàn quốc" in country and re.search(rf"<b>{paid:,}</b>".replace(",", "."), country)
    province = re.search(r'href="/dashboard\?unit=(\d+)[^"]*">Thành phố Hồ Chí Minh', country)
    assert province, "the country view links each province"
    drill = text(client.get(f"/dashboard?unit={province.group(1)}"))
    assert "Theo địa bàn" in drill and "svg" in drill
    assert "được tính trực tiếp" in country  # no snapshot yet: live figures, and the page says so
    stats.snapshot(svc)
    snapped = text(client.get("/dashboard"))
    assert "Số liệu tính đến" in snapped and "được tính trực tiếp" not in snapped
    assert re.search(rf"<b>{paid:,}</b>".replace(",", "."), snapped)
    assert 'id="campaign"' in snapped
    assert re.search(r'href="/dashboard\?unit=(\d+)[^"]*">Thành phố Hồ Chí Minh', snapped)
    same = text(client.get(f"/dashboard?unit={province.group(1)}"))
    kpis = re.compile(r'<section class="kpis">.*?</section>', re.S)
    assert kpis.search(same).group(0) == kpis.search(drill).group(0)  # type: ignore[union-attr]
    assert f'href="/dashboard?unit={world.commune_id}' in same  # each commune: a link down
    commune = text(client.get(f"/dashboard?unit={world.commune_id}"))
    assert "Số liệu tính đến" in commune and "Theo địa bàn" not in commune


def test_commune_officer_cannot_reach_another_commune(
    client: Any, world: WebWorld, svc: Services
) -> None:
    with svc.db.begin() as conn:
        case_id = conn.execute(
            insert(mismatch_case)
            .values(
                type="approved_unpaid",
                dedup_key="test:1",
                status="open",
                unit_id=world.commune_id,
                enrollment_id=world.payable[0],
                evidence={"amount": 1},
                opened_at=svc.clock(),
            )
            .returning(mismatch_case.c.id)
        ).scalar_one()
    login(client, "xa")
    assert client.get(f"/cases/{case_id}").status_code == 200
    assert f"/cases/{case_id}" in text(client.get("/cases"))
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    login(client, "xakhac")
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert f'/cases/{case_id}"' not in text(client.get("/cases"))
    assert client.get(f"/enrollments/{world.payable[0]}").status_code == 404
    assert client.get(f"/dashboard?unit={world.commune_id}").status_code == 404
    assert client.get(f"/cases?unit={world.commune_id}").status_code == 404
    assert client.get(f"/exports/enrollments.csv?unit={world.commune_id}").status_code == 404
    listing = f"/exports/payout-list?unit={world.commune_id}&programme={world.programme_id}"
    assert client.get(listing + "&period=2026-08").status_code == 404
    own = text(client.get("/exports/enrollments.csv"))
    assert all(p[1] not in own for p in PEOPLE)  # nothing of the other commune in its export
    assert client.get("/ops/jobs").status_code == 404  # operators only


def test_approval_needs_a_reason_and_an_override_for_flags(
    client: Any, world: WebWorld, svc: Services
) -> None:
    login(client, "canbotinh")
    listing = text(client.get("/enrollments?period=2026-08"))
    assert all(f'value="{i}"' in listing for i in world.clean_verified)
    token = csrf(client, "/enrollments")
    missing = client.post(
        "/enrollments/approve", data={"csrf_token": token, "ids": world.clean_verified[0]}
    )
    assert missing.status_code == 422 and 'id="reason-error"' in text(missing)
    ok = client.post(
        "/enrollments/approve",
        data={"csrf_token": token, "ids": world.clean_verified[0], "reason": "Quyết định 12/QĐ"},
    )
    assert ok.status_code == 302
    with svc.db.read() as conn:
        state = conn.execute(
            select(enrollment.c.state).where(enrollment.c.id == world.clean_verified[0])
        ).scalar_one()

    assert state == "approved"
    flagged = world.clean_verified[1]
    with svc.db.begin() as conn:
        conn.execute(
            insert(flag).values(
                enrollment_id=flagged,
                kind="ticked_elsewhere",
                detail_key="t",
                detail={},
                status="open",
                created_at=svc.clock(),
            )
        )
    blocked = client.post(
        "/enrollments/approve", data={"csrf_token": token, "ids": flagged, "reason": "QĐ 12"}
    )
    assert blocked.status_code == 422 and 'id="override_reason-error"' in text(blocked)
    done = client.post(
        "/enrollments/approve",
        data={
            "csrf_token": token,
            "ids": flagged,
            "reason": "QĐ 12",
            "override_reason": "Xã khác đã xác nhận dừng chi",
        },
    )
    assert done.status_code == 302
    with svc.db.read() as conn:
        assert conn.execute(
            select(flag.c.status, flag.c.reason).where(flag.c.enrollment_id == flagged)
        ).first() == ("overridden", "Xã khác đã xác nhận dừng chi")
        actions = set(conn.execute(select(audit_event.c.action)).scalars())
    assert "enrollment.approve" in actions


def _lookup(client: Any, pid: str, birth: str) -> Any:
    token = csrf(client, "/cong-khai/tra-cuu")
    return client.post(
        "/cong-khai/tra-cuu", data={"csrf_token": token, "personal_id": pid, "birth_date": birth}
    )


def _result(answer: Any) -> str:
    html = text(answer)
    return html[html.index('id="lookup-result"') :]


def test_public_lookup_right_wrong_unknown_and_rate_limit(client: Any, world: WebWorld) -> None:
    pid, name, _birth, _ = PEOPLE[0]  # approved, not yet paid
    right = _lookup(client, pid, "04/03/1950")
    assert right.status_code == 200
    shown = _result(right)
    assert "Trần V. B." in shown and "500.000 ₫" in shown and "Đã duyệt, chưa chi" in shown
    assert name not in shown and pid not in text(right)  # masked name, the ID never echoed
    wrong_birth = _result(_lookup(client, pid, "05/03/1950"))
    unknown = _result(_lookup(client, "079050999999", "04/03/1950"))
    assert wrong_birth == unknown and "Không tìm thấy" in unknown
    bad = _lookup(client, "12345", "")
    assert bad.status_code == 422 and 'id="personal_id-error"' in text(bad)
    assert 'id="birth_date-error"' in text(bad)
    limited = [_lookup(client, pid, "04/03/1950").status_code for _ in range(8)]
    assert limited[-1] == 429 and 200 in limited  # 10 per window: the 11th and later refused


def _token(svc: Services, world: WebWorld, enrollment_id: int | None = None) -> str:
    ring = qr.keyring_from_settings(svc.settings)
    from tests.e2e.seed import SYSTEM

    tokens = qr.issue_for_unit(svc, SYSTEM, ring, world.commune_id, world.programme_id, "2026-08")
    assert len(tokens) == 3
    wanted = enrollment_id or world.payable[0]
    return next(t.token for t in tokens if t.enrollment_id == wanted)


def _verify(client: Any, token: str) -> Any:
    return client.post(
        "/qr/verify", data={"csrf_token": csrf(client, "/qr/verify"), "token": token}
    )


def test_qr_verify_pay_already_paid_and_tampered(
    client: Any, world: WebWorld, svc: Services
) -> None:
    token = _token(svc, world)
    login(client, "xa")
    valid = _verify(client, token)
    assert (
        valid.status_code == 200 and "Mã QR hợp lệ" in text(valid) and "Trần V. B." in text(valid)
    )
    payload = token.split(".")[2]
    tampered = token.replace(payload, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"))
    bad = _verify(client, tampered)
    assert bad.status_code == 422 and "Mã QR không hợp lệ" in text(bad)
    assert "qr.signature" in text(bad) or "qr.malformed" in text(bad)
    form = {"csrf_token": csrf(client, "/qr/verify"), "token": token, "evidence_ref": "IMG_0042"}
    mismatch = client.post("/qr/paid", data=form | {"counter_pid": PEOPLE[1][0]})
    assert mismatch.status_code == 422 and 'id="counter_pid-error"' in text(mismatch)
    paid = client.post("/qr/paid", data=form | {"counter_pid": PEOPLE[0][0]})
    assert paid.status_code == 302
    again = _verify(client, token)
    assert "Mã QR không hợp lệ" in text(again) and "đã chi trả" in text(again)
    with svc.db.read() as conn:
        state = conn.execute(
            select(enrollment.c.state).where(enrollment.c.id == world.payable[0])
        ).scalar_one()
        results = dict(
            conn.execute(
                select(confirmation.c.apply_result, confirmation.c.source).where(
                    confirmation.c.source == qr.SOURCE
                )
            ).all()
        )
        use = conn.execute(select(qr_token_use.c.status, qr_token_use.c.attempts)).one()
        actions = list(conn.execute(select(audit_event.c.action)).scalars())
    assert state == "paid" and results == {"id_mismatch": "qr-doorstep", "settled": "qr-doorstep"}
    assert tuple(use) == ("paid", 2) and "qr.paid" in actions and "qr.failed" in actions


def test_qr_scope_expiry_keys_and_cancel(client: Any, world: WebWorld, svc: Services) -> None:
    ring = qr.keyring_from_settings(svc.settings)
    token = _token(svc, world, world.payable[1])
    login(client, "xakhac")
    assert "qr.out_of_scope" in text(_verify(client, token))
    claims = qr.decode(token, ring.public, svc.clock())
    expired = qr.sign(
        qr.Claims(**{**claims.__dict__, "expires": int(svc.clock().timestamp()) - 10}), ring
    )
    assert "qr.expired" in text(_verify(client, expired))
    other_ring = qr.Keyring("ansinh-dev-1", ring.signer, ring.public)  # wrong key id claimed
    assert "qr.signature" in text(_verify(client, qr.sign(claims, other_ring)))
    unknown = qr.Keyring("ansinh-qr-9", ring.signer, ring.public)
    assert "qr.unknown_key" in text(_verify(client, qr.sign(claims, unknown)))
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    login(client, "xa")
    no_reason = client.post(
        "/qr/cancel", data={"csrf_token": csrf(client, "/qr/verify"), "token": token, "reason": ""}
    )
    assert no_reason.status_code == 422 and "Phải ghi lý do hủy" in text(no_reason)
    cancelled = client.post(
        "/qr/cancel",
        data={"csrf_token": csrf(client, "/qr/verify"), "token": token, "reason": "Vắng nhà"},
    )
    assert cancelled.status_code == 302
    assert "qr.cancelled" in text(_verify(client, token))
    revoked = dict(svc.settings.web.__dict__, qr_revoked_keys=("ansinh-qr-1",))
    svc.settings = svc.settings.with_(web=type(svc.settings.web)(**revoked))
    client.application.extensions.pop("ansinh.qr", None)
    assert "qr.revoked_key" in text(_verify(client, _token(svc, world, world.payable[2])))


def test_exports_stream_vietnamese_headers_and_print_list(
    client: Any, world: WebWorld, svc: Services
) -> None:
    login(client, "canbotinh")
    answer = client.get(f"/exports/enrollments.csv?programme={world.programme_id}&from=2026-08")
    assert answer.is_streamed and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text(answer).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Mã hồ sơ", "Chương trình", "Kỳ chi trả"]
    assert len(rows) == 1 + len(PEOPLE) and {r[2] for r in rows[1:]} == {"2026-08"}
    assert all(re.fullmatch(r"079\*{7}\d\d", r[8]) for r in rows[1:])  # IDs masked
    book = client.get(f"/exports/enrollments.xlsx?programme={world.programme_id}&from=2026-08")
    sheet = load_workbook(io.BytesIO(book.get_data())).active
    assert sheet["J1"].value == "Số tiền (đồng)" and sheet["J2"].number_format == "#,##0"
    assert isinstance(sheet["J2"].value, int) and sheet.max_row == 1 + len(PEOPLE)
    printed = text(
        client.get(
            f"/exports/payout-list?unit={world.commune_id}&programme={world.programme_id}"
            "&period=2026-08"
        )
    )
    assert "Ký nhận" in printed and "Chủ tịch UBND" in printed and "Trần Văn Bình" in printed
    assert "1.500.000" in printed  # three cash beneficiaries at 500.000 ₫
    with svc.db.read() as conn:
        assert {"export.csv", "export.xlsx"} <= set(
            conn.execute(select(audit_event.c.action)).scalars()
        )


def test_queue_filters_and_keyset_pages(client: Any, world: WebWorld, svc: Services) -> None:
    now = svc.clock()
    import datetime as dt

    with svc.db.begin() as conn:
        conn.execute(
            insert(mismatch_case),
            [
                {
                    "type": "returned_payment" if i % 2 else "deceased",
                    "dedup_key": f"q:{i}",
                    "status": "open",
                    "unit_id": world.commune_id,
                    "programme_id": world.programme_id,
                    "evidence": {},
                    "opened_at": now - dt.timedelta(days=i % 40, minutes=i),
                }
                for i in range(130)
            ],
        )
    login(client, "xa")
    seen: list[str] = []
    url = "/cases?type=deceased&sort=newest"
    while url:
        page = text(client.get(url))
        seen += re.findall(r'<a href="/cases/(\d+)">', page)
        nxt = re.search(r'href="([^"]+)" rel="next"', page)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert len(seen) == len(set(seen)) == 65  # every deceased case once, over two pages
    old = text(client.get("/cases?type=deceased&min_age=30"))
    ages = [int(a) for a in re.findall(r'<td class="num">(\d+)</td>\s*</tr>', old)]
    assert ages and min(ages) >= 30


def test_resolve_a_case_through_the_page(client: Any, world: WebWorld, svc: Services) -> None:
    with svc.db.begin() as conn:
        case_id = conn.execute(
            insert(mismatch_case)
            .values(
                type="deceased",
                dedup_key="web:resolve",
                status="open",
                unit_id=world.commune_id,
                programme_id=world.programme_id,
                period="2026-08",
                enrollment_id=world.payable[2],
                evidence={"death_date": "2026-07-30"},
                opened_at=svc.clock(),
            )
            .returning(mismatch_case.c.id)
        ).scalar_one()
    login(client, "xa")
    page = text(client.get(f"/cases/{case_id}"))
    options = re.findall(r'<option value="([a-z_]+)"', page)
    assert options == ["cancel_entitlement", "false_positive"]  # only what a death case allows
    assert 'name="merge_into"' in page and "Chưa có hành động nào." in page
    url = f"/cases/{case_id}/resolve"
    token = csrf(client, f"/cases/{case_id}")
    blank = client.post(
        url, data={"action": "cancel_entitlement", "reason": "", "csrf_token": token}
    )
    assert blank.status_code == 422
    assert re.search(r'id="reason-error"[^>]*>Phải ghi lý do', text(blank))
    wrong = client.post(
        url, data={"action": "confirm_paid", "reason": "Đã chi", "csrf_token": token}
    )
    assert wrong.status_code == 422 and 'id="action-error"' in text(wrong)
    assert "không áp dụng" in text(wrong)
    assert client.post(url, data={"action": "false_positive", "reason": "x"}).status_code == 400
    done = client.post(
        url,
        data={
            "action": "cancel_entitlement",
            "reason": "Giấy báo tử số <b>12</b>",
            "evidence_ref": "GBT-12",
            "csrf_token": token,
        },
    )
    assert done.status_code == 302
    after = text(client.get(f"/cases/{case_id}"))
    assert "Đã xử lý vụ việc." in after and "cancel_entitlement" in after
    assert "Giấy báo tử số &lt;b&gt;12&lt;/b&gt;" in after and "GBT-12" in after
    assert "xa (commune_officer)" in after and "<fieldset disabled>" in after
    again = client.post(url, data={"action": "false_positive", "reason": "x", "csrf_token": token})
    assert again.status_code == 409 and "đã được xử lý" in text(again)
    with svc.db.read() as conn:
        state = conn.execute(
            select(enrollment.c.state).where(enrollment.c.id == world.payable[2])
        ).scalar()
        events = list(
            conn.execute(
                select(audit_event.c.action).where(
                    audit_event.c.entity == "mismatch_case",
                    audit_event.c.entity_id == str(case_id),
                )
            ).scalars()
        )
    assert state == "cancelled" and events == ["case.cancel_entitlement"]


def test_dead_letter_retry_is_audited_and_for_operators(
    client: Any, world: WebWorld, svc: Services
) -> None:
    with svc.db.begin() as conn:
        msg = conn.execute(
            insert(outbox_message)
            .values(
                topic="registry.tick",
                dedup_key="k1",
                payload={},
                status="dead",
                attempts=8,
                next_attempt_at=svc.clock(),
                last_error="upstream.unavailable",
                created_at=svc.clock(),
            )
            .returning(outbox_message.c.id)
        ).scalar_one()
    login(client, "canbotinh")
    assert client.get("/ops/dead-letters").status_code == 404
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    login(client, "bo")
    token = csrf(client, "/ops/dead-letters")
    assert (
        client.post(f"/ops/dead-letters/{msg}/retry", data={"csrf_token": token}).status_code == 302
    )
    again = client.post(f"/ops/dead-letters/{msg}/retry", data={"csrf_token": token})
    assert again.status_code == 409
    with svc.db.read() as conn:
        assert (
            conn.execute(
                select(outbox_message.c.status).where(outbox_message.c.id == msg)
            ).scalar_one()
            == "pending"
        )
        assert (
            conn.execute(
                select(func.count()).where(audit_event.c.action == "outbox.retry")
            ).scalar_one()
            == 1
        )


def test_quarantine_rows_are_corrected_and_replayed_from_the_page(
    client: Any, world: WebWorld, svc: Services
) -> None:
    from gateway.security.principal import Actor
    from gateway.services import intake

    bad = {
        "personal_id": "079050900777",
        "full_name": "Trần Văn Khoa",
        "birth_date": "31/02/1950",
        "gender": "Nam",
        "commune_code": "26743",
        "channel": "postoffice",
    }
    junk = {**bad, "personal_id": "079050900778", "full_name": "Dòng thử"}
    intake.import_rows(
        svc,
        Actor.system("t"),
        source_key="web-q",
        source_kind="api",
        mapping="canonical",
        programme_code="ND20-TCXH",
        period="2026-09",
        content_hash="q1",
        rows=[bad, junk],
    )
    login(client, "bo")  # a ministry officer reads every row but does not correct
    listing = text(client.get("/quarantine"))
    ids = [int(i) for i in re.findall(r'href="/quarantine/(\d+)"', listing)]
    assert len(ids) >= 2
    page = text(client.get(f"/quarantine/{ids[-2]}"))
    assert "date.invalid" in page or "ngày có thật" in page
    assert not re.search(r"\b\d{12}\b", page) and "*******" in page  # IDs masked on screen
    assert "disabled" in page
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    login(client, "xakhac")  # another commune: the row is not there for them
    assert client.get(f"/quarantine/{ids[-2]}").status_code == 404
    client.post("/logout", data={"csrf_token": csrf(client, "/dashboard")})
    login(client, "xa")
    token = csrf(client, f"/quarantine/{ids[-2]}")
    still_bad = client.post(
        f"/quarantine/{ids[-2]}/replay", data={"csrf_token": token, "fix_birth_date": "30/02/1950"}
    )
    assert still_bad.status_code == 422 and "ngày có thật" in text(still_bad)
    fixed = client.post(
        f"/quarantine/{ids[-2]}/replay", data={"csrf_token": token, "fix_birth_date": "28/02/1950"}
    )
    assert fixed.status_code == 302
    refused = client.post(
        f"/quarantine/{ids[-1]}/discard", data={"csrf_token": token, "reason": ""}
    )
    assert refused.status_code == 422
    gone = client.post(
        f"/quarantine/{ids[-1]}/discard",
        data={"csrf_token": token, "reason": "dòng thử nghiệm của xã"},
    )
    assert gone.status_code == 302
    with svc.db.read() as conn:
        from gateway.db.tables import quarantine_row

        states = dict(
            conn.execute(
                select(quarantine_row.c.id, quarantine_row.c.status).where(
                    quarantine_row.c.id.in_(ids[-2:])
                )
            ).all()
        )
        made = conn.execute(
            select(func.count()).select_from(enrollment).where(enrollment.c.period == "2026-09")
        ).scalar_one()
        actions = set(
            conn.execute(
                select(audit_event.c.action).where(audit_event.c.entity == "quarantine_row")
            ).scalars()
        )
    assert states == {ids[-2]: "replayed", ids[-1]: "discarded"} and made == 1
    assert {"quarantine.replay", "quarantine.discard"} <= actions
