"""The welfare sources as configured: the province's REST API (simulator over real HTTP) with
status pushed back through the outbox, the ``files`` inbox, and ``make run``'s province
simulator component importing through a real process."""

from __future__ import annotations

import csv
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from adapters.welfare import factory
from adapters.welfare.inbox import FileInbox
from adapters.welfare.simulator import ProvinceData, create_app
from gateway.bootstrap import build_services
from gateway.db.tables import outbox_message
from gateway.devstack import Stack, province_sim
from gateway.security.principal import Actor
from gateway.services import intake, outbox, status
from gateway.services.context import Services
from gateway.services.outbox_handlers import default_handlers
from gateway.settings import Settings, WelfareSettings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "welfare"
SYSTEM = Actor.system("test")
LIST = "79_ND20-TCXH_2026-07.csv"


def _world(root: Path) -> Path:
    """A generated world's shape: ``lists/<province>_<programme>_<period>.csv`` (template)."""
    (root / "lists").mkdir(parents=True)
    text = (FIXTURES / "template_canonical.csv").read_text(encoding="utf-8-sig")
    bad = text.replace("1951-12-24", "1951-02-31")  # HS-0002: an impossible birth date
    (root / "lists" / LIST).write_text(bad, encoding="utf-8-sig")
    return root


def _services(db_url: str, settings: Settings, fakes: dict[str, Any]) -> Services:
    """Services with the welfare source the settings name (built by the real factory)."""
    return build_services(
        settings.with_(database_url=db_url),
        registry=fakes["registry"],
        payments={"bank": fakes["bank"], "postoffice": fakes["post"]},
        welfare=factory.build(settings),
    )


def _pull(svc: Services) -> list[intake.ImportSummary]:
    """What ``ansinh intake pull`` does: every list the source offers, through its mapping."""
    return [
        intake.import_rows(
            svc,
            SYSTEM,
            source_key=source.key,
            source_kind=source.kind,
            mapping=source.mapping,
            programme_code=source.programme,
            period=source.period,
            content_hash=source.version,
            rows=svc.welfare.rows(source),
        )
        for source in svc.welfare.lists()
    ]


@pytest.fixture
def province(tmp_path: Path) -> Iterator[tuple[str, ProvinceData]]:
    data = ProvinceData.from_world(_world(tmp_path / "world"))
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(data, token="s3cret-token"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", data
    server.shutdown()
    thread.join()


def test_statuses_reach_the_province_through_the_outbox_over_http(
    province: tuple[str, ProvinceData],
    db_url: str,
    settings: Settings,
    fakes: dict[str, Any],
) -> None:
    url, data = province
    rest = WelfareSettings("rest", url, token="s3cret-token", page_size=2)
    svc = _services(db_url, settings.with_(welfare=rest), fakes)
    try:
        (summary,) = _pull(svc)
        assert (summary.accepted, summary.quarantined) == (4, 1)
        assert status.push(svc, SYSTEM, "79/ND20-TCXH/2026-07") == 1
        assert status.push(svc, SYSTEM, "79/ND20-TCXH/2026-07") == 1  # same statuses: queued once
        with svc.db.read() as conn:
            queued = conn.execute(
                select(outbox_message.c.id).where(outbox_message.c.topic == "province.status")
            ).all()
        assert len(queued) == 1
        assert data.statuses == {}  # nothing sent before the dispatcher runs
        done = outbox.dispatch(svc, default_handlers())
        assert done.sent == 1
    finally:
        svc.close()
    received = requests.get(
        f"{url}/api/v1/lists/79_ND20-TCXH_2026-07/statuses",
        headers={"Authorization": "Bearer s3cret-token"},
        timeout=5,
    ).json()["statuses"]
    by_ref = {s["source_ref"]: s for s in received}
    assert set(by_ref) == {"HS-0001", "HS-0002", "HS-0003", "HS-0004", "HS-0005"}
    assert by_ref["HS-0001"]["state"] == "proposed"
    held = by_ref["HS-0002"]
    assert held["state"] == "quarantined" and held["reason_code"] == "date.invalid"
    assert held["reason"] and held["amount"] is None
    refused = requests.get(f"{url}/api/v1/lists", timeout=5)  # the token is required
    assert refused.status_code == 401


def test_the_files_inbox_lists_reads_and_answers_with_a_status_file(
    tmp_path: Path, db_url: str, settings: Settings, fakes: dict[str, Any]
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(_world(tmp_path / "w") / "lists" / LIST, inbox / LIST)
    shutil.copy(FIXTURES / "hcm_btxh_2026-07.csv", inbox / "notes about the list.csv")
    files = WelfareSettings("files", inbox_dir=str(inbox), mapping="canonical")
    svc = _services(db_url, settings.with_(welfare=files), fakes)
    try:
        assert isinstance(svc.welfare, FileInbox)
        (listed,) = svc.welfare.lists()  # a file not named <province>_<programme>_<period>
        assert (listed.key, listed.programme, listed.period, listed.kind) == (
            "79/ND20-TCXH/2026-07",
            "ND20-TCXH",
            "2026-07",
            "csv",
        )
        (summary,) = _pull(svc)
        assert (summary.accepted, summary.quarantined) == (4, 1)
        assert _pull(svc)[0].status == "duplicate"  # the same file again: nothing twice
        assert status.push(svc, SYSTEM, listed.key) == 1
        assert outbox.dispatch(svc, default_handlers()).sent == 1
    finally:
        svc.close()
    written = inbox / "statuses" / "79_ND20-TCXH_2026-07.statuses.csv"
    with written.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["Mã hồ sơ"]: r["Trạng thái"] for r in rows} == {
        "HS-0001": "proposed",
        "HS-0002": "quarantined",
        "HS-0003": "proposed",
        "HS-0004": "proposed",
        "HS-0005": "proposed",
    }


def test_make_run_starts_the_province_simulator_and_imports_through_it(
    tmp_path: Path, db_url: str, settings: Settings, fakes: dict[str, Any]
) -> None:
    stack = Stack(data_dir=tmp_path, say=lambda _line: None)
    stack.env["ANSINH_DEVSTACK_WORLD"] = str(_world(tmp_path / "world"))
    try:
        province_sim.start(stack)  # a real `ansinh simulate province` process
        configured = stack.settings()
        assert configured.welfare.backend == "rest"
        assert configured.welfare.url is not None and configured.welfare.url.startswith(
            "http://127.0.0.1:"
        )
        assert any("province simulator" in what for what, _ in stack.urls)
        svc = _services(db_url, settings.with_(welfare=configured.welfare), fakes)
        try:
            (summary,) = _pull(svc)
        finally:
            svc.close()
    finally:
        stack.stop()
    assert (summary.status, summary.accepted, summary.quarantined) == ("done", 4, 1)
    assert all(p.poll() is not None for p in stack.processes)  # stopped with the stack
