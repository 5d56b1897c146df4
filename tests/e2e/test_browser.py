"""The officer workspace, the public lookup and doorstep QR in a real browser (Debian's Chromium
driven by Playwright), against the gateway served on an ephemeral loopback port.

Screenshots of the main pages, at desktop and phone widths, go to ``ANSINH_SCREENSHOTS``
(default ``var/screenshots``); the path is printed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from adapters.payments.fake import FakeBank, FakePostOffice
from adapters.registry.fake import FakeRegistry
from adapters.welfare.fake import FakeWelfareSource
from gateway import create_app
from gateway.bootstrap import build_services
from gateway.db.tables import enrollment, flag, mismatch_case
from gateway.services import qr
from gateway.services.context import Services
from gateway.settings import Settings
from tests.conftest import TEST_KEYS
from tests.e2e.seed import PASSWORD, PEOPLE, SYSTEM, WebWorld, seed

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("browser")]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Site:
    url: str
    svc: Services
    world: WebWorld
    shots: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("web-site")
    settings = Settings(
        env="test",
        data_dir=data,
        database_url=f"sqlite:///{data / 'ansinh.db'}",
        security=TEST_KEYS,
    )
    svc = build_services(
        settings,
        registry=FakeRegistry(),
        payments={"bank": FakeBank(), "postoffice": FakePostOffice()},
        welfare=FakeWelfareSource(),
    )
    world = seed(svc, data / "certs", people=400)
    app = create_app(svc.settings, services=svc)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shots = Path(os.environ.get("ANSINH_SCREENSHOTS", "var/screenshots")).resolve()
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", svc, world, shots)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        svc.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def open_page(browser: Browser, viewport: dict[str, int] = DESKTOP) -> Page:
    context = browser.new_context(viewport=viewport, locale="vi-VN")
    return context.new_page()


def sign_in(page: Page, site: Site, username: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Tổng quan")


def shoot(page: Page, site: Site, name: str) -> None:
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def test_sign_in_and_dashboard_drill_down(site: Site, browser: Browser) -> None:
    page = open_page(browser)
    page.goto(f"{site.url}/login")
    page.fill("#username", "canbotinh")
    page.fill("#password", "sai-mat-khau-123")
    page.click("main button[type=submit]")
    expect(page.locator("#password-error")).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    shoot(page, site, "login-error")
    sign_in(page, site, "canbotinh")
    expect(page.locator(".kpi").first).to_be_visible()
    expect(page.locator("#freshness")).to_contain_text("được tính trực tiếp")  # no snapshot yet
    shoot(page, site, "dashboard-province-desktop")
    from gateway.services import stats

    stats.snapshot(site.svc)
    page.reload()
    expect(page.locator("#freshness")).to_contain_text("Số liệu tính đến")
    expect(page.locator("#campaign")).to_be_visible()
    shoot(page, site, "dashboard-province-snapshot-desktop")
    page.click(f"text={_commune_name(site)}")
    expect(page.locator("h1")).to_contain_text(_commune_name(site))
    phone = open_page(browser, PHONE)
    sign_in(phone, site, "canbotinh")
    shoot(phone, site, "dashboard-province-phone")
    phone.click("text=English")
    expect(phone.locator("h1")).to_contain_text("Dashboard")


def _commune_name(site: Site) -> str:
    from gateway.services import units

    with site.svc.db.read() as conn:
        return units.get(conn, site.world.commune_id).name


def test_filter_the_queue_and_open_a_case(site: Site, browser: Browser) -> None:
    with site.svc.db.begin() as conn:
        conn.execute(
            insert(mismatch_case).values(
                type="returned_payment",
                dedup_key="browser:1",
                status="open",
                unit_id=site.world.commune_id,
                programme_id=site.world.programme_id,
                period="2026-08",
                enrollment_id=site.world.payable[2],
                evidence={"amount": 500_000, "reason_code": "AC04"},
                opened_at=site.svc.clock(),
            )
        )
    page = open_page(browser)
    sign_in(page, site, "bo")
    page.goto(f"{site.url}/cases")
    page.select_option("#type", "returned_payment")
    page.click("#case-filters button[type=submit]")
    rows = page.locator("#case-table tbody tr")
    expect(rows.first).to_be_visible()
    assert all("Khoản chi bị trả lại" in t for t in rows.all_inner_texts())
    shoot(page, site, "case-queue-desktop")
    page.locator("#case-table tbody tr a").first.click()
    for heading in (
        "Danh sách của tỉnh",
        "CSDL quốc gia về dân cư",
        "Lệnh chi và xác nhận",
        "Đã hưởng ở nơi khác",
    ):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    shoot(page, site, "case-desktop")
    phone = open_page(browser, PHONE)
    sign_in(phone, site, "bo")
    phone.goto(page.url)
    shoot(phone, site, "case-phone")


def test_resolve_a_case(site: Site, browser: Browser) -> None:
    with site.svc.db.begin() as conn:
        case_id = conn.execute(
            insert(mismatch_case)
            .values(
                type="not_found",
                dedup_key="browser:resolve",
                status="open",
                unit_id=site.world.commune_id,
                programme_id=site.world.programme_id,
                period="2026-08",
                enrollment_id=site.world.clean_verified[1],
                evidence={"fields": "not in the registry"},
                opened_at=site.svc.clock(),
            )
            .returning(mismatch_case.c.id)
        ).scalar_one()
    page = open_page(browser)
    sign_in(page, site, "xa")
    page.goto(f"{site.url}/cases/{case_id}")
    page.select_option("#action", "false_positive")
    page.click("#resolve button[type=submit]")  # no reason: refused next to the field
    expect(page.locator("#reason-error")).to_contain_text("Phải ghi lý do")
    shoot(page, site, "case-resolve-error")
    page.select_option("#action", "false_positive")
    page.fill("#reason", "Đã tìm thấy trong CSDL bằng số CMND cũ")
    page.click("#resolve button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Đã xử lý vụ việc.")
    expect(page.locator("#history")).to_contain_text("Đã tìm thấy trong CSDL bằng số CMND cũ")
    expect(page.locator("#resolution")).to_contain_text("false_positive")
    expect(page.locator("#resolve button[type=submit]")).to_be_disabled()
    shoot(page, site, "case-resolved")
    with site.svc.db.read() as conn:
        status = conn.execute(
            select(mismatch_case.c.status).where(mismatch_case.c.id == case_id)
        ).scalar()
    assert status == "resolved"


def test_approve_with_and_without_override(site: Site, browser: Browser) -> None:
    clean, flagged = site.world.clean_verified[0], site.world.clean_verified[2]
    with site.svc.db.begin() as conn:
        conn.execute(
            insert(flag).values(
                enrollment_id=flagged,
                kind="ticked_elsewhere",
                detail_key="browser",
                detail={},
                status="open",
                created_at=site.svc.clock(),
            )
        )
    page = open_page(browser)
    sign_in(page, site, "canbotinh")
    page.goto(f"{site.url}/enrollments?period=2026-08")
    page.check(f"#pick-{clean}")
    page.fill("#reason", "Quyết định 15/QĐ-UBND")
    page.click("#approve-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Đã phê duyệt 1 hồ sơ")
    page.check(f"#pick-{flagged}")
    page.fill("#reason", "Quyết định 15/QĐ-UBND")
    page.click("#approve-form button[type=submit]")
    expect(page.locator("#override_reason-error")).to_contain_text("phải ghi lý do vượt cờ")
    shoot(page, site, "approve-override-needed")
    page.fill("#override_reason", "Địa phương kia đã dừng chi từ tháng 7")
    page.click("#approve-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Đã phê duyệt 1 hồ sơ")
    with site.svc.db.read() as conn:
        states = dict(
            conn.execute(
                select(enrollment.c.id, enrollment.c.state).where(
                    enrollment.c.id.in_([clean, flagged])
                )
            ).all()
        )
    assert states == {clean: "approved", flagged: "approved"}


def test_public_lookup_right_and_wrong_pairs(site: Site, browser: Browser) -> None:
    pid = PEOPLE[1][0]
    page = open_page(browser, PHONE)
    page.goto(f"{site.url}/cong-khai/tra-cuu")
    page.fill("#personal_id", pid)
    page.fill("#birth_date", "20/11/1948")
    page.click("#lookup-form button[type=submit]")
    result = page.locator("#lookup-result")
    expect(result).to_contain_text("Lê T. C.")
    expect(result).to_contain_text("500.000 ₫")
    assert pid not in page.url and pid not in page.content()
    shoot(page, site, "public-lookup-found-phone")
    answers = []
    for typed_pid, birth in ((pid, "21/11/1948"), ("079148999999", "20/11/1948")):
        page.fill("#personal_id", typed_pid)
        page.fill("#birth_date", birth)
        page.click("#lookup-form button[type=submit]")
        answers.append(page.locator("#lookup-result").inner_html())
    assert answers[0] == answers[1] and "Không tìm thấy" in answers[0]
    shoot(page, site, "public-lookup-notfound-phone")
    page.goto(f"{site.url}/cong-khai/thong-ke")
    shoot(page, site, "public-statistics-phone")


def test_qr_verify_valid_paid_tampered(site: Site, browser: Browser) -> None:
    ring = qr.keyring_from_settings(site.svc.settings)
    tokens = qr.issue_for_unit(
        site.svc, SYSTEM, ring, site.world.commune_id, site.world.programme_id, "2026-08"
    )
    target = site.world.payable[1]
    token = next(t.token for t in tokens if t.enrollment_id == target)
    page = open_page(browser, PHONE)
    sign_in(page, site, "xa")
    page.goto(f"{site.url}/qr/verify")
    page.fill("#token", token)
    page.click("#qr-form button[type=submit]")
    expect(page.locator("#qr-result")).to_contain_text("Mã QR hợp lệ")
    expect(page.locator("#qr-result")).to_contain_text("500.000 ₫")
    shoot(page, site, "qr-valid-phone")
    page.fill("#counter_pid", PEOPLE[1][0])
    page.fill("#evidence_ref", "IMG_2026_0815")
    page.click("#paid-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Đã ghi nhận chi trả")
    page.fill("#token", token)
    page.click("#qr-form button[type=submit]")
    expect(page.locator("#qr-result")).to_contain_text("Mã QR không hợp lệ")
    expect(page.locator("#qr-result")).to_contain_text("đã chi trả")
    shoot(page, site, "qr-already-paid-phone")
    head, kid, payload, sig = token.split(".")
    forged = ".".join((head, kid, payload[:-3] + ("AAA" if payload[-3:] != "AAA" else "BBB"), sig))
    page.fill("#token", forged)
    page.click("#qr-form button[type=submit]")
    expect(page.locator("#qr-result")).to_contain_text("Mã QR không hợp lệ")
    with site.svc.db.read() as conn:
        assert (
            conn.execute(select(enrollment.c.state).where(enrollment.c.id == target)).scalar_one()
            == "paid"
        )


def test_commune_officer_cannot_reach_another_commune_by_url(site: Site, browser: Browser) -> None:
    page = open_page(browser)
    sign_in(page, site, "xakhac")
    enrollment_id = site.world.payable[0]
    response = page.goto(f"{site.url}/enrollments/{enrollment_id}")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_contain_text("404 · không có hồ sơ")
    response = page.goto(f"{site.url}/dashboard?unit={site.world.commune_id}")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_contain_text("404 · không tìm thấy")
    shoot(page, site, "scope-refused")
    response = page.goto(f"{site.url}/exports/enrollments.csv?unit={site.world.commune_id}")
    assert response is not None and response.status == 404


def test_print_list_quarantine_and_reports_render(site: Site, browser: Browser) -> None:
    page = open_page(browser)
    sign_in(page, site, "bo")
    world = site.world
    page.goto(
        f"{site.url}/exports/payout-list?unit={world.commune_id}&programme={world.programme_id}"
        "&period=2026-08"
    )
    expect(page.locator("table.payout")).to_contain_text("Ký nhận")
    page.emulate_media(media="print")
    shoot(page, site, "payout-list-print")
    page.emulate_media(media="screen")
    for path, name in (
        ("/exports", "reports"),
        ("/quarantine", "quarantine"),
        (
            f"/qr/sheet?unit={world.commune_id}&programme={world.programme_id}&period=2026-08",
            "qr-sheet",
        ),
    ):
        page.goto(site.url + path)
        expect(page.locator("h1").first).to_be_visible()
        shoot(page, site, name)
    page.goto(site.url + "/quarantine")
    first = page.locator("a[href^='/quarantine/']").first
    first.click()
    expect(page.get_by_role("heading", name="Sửa và nạp lại")).to_be_visible()
    shoot(page, site, "quarantine-row")
