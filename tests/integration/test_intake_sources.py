"""Three provincial source shapes and the canonical template bring the same people in."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from adapters.welfare.files import open_list
from adapters.welfare.rest import RestWelfareSource
from adapters.welfare.simulator import ProvinceData, create_app
from gateway.db.tables import enrollment
from gateway.security.principal import Actor
from gateway.services import intake
from gateway.services.context import Services
from gateway.settings import Settings, WelfareSettings
from mappings import engine, record

FIXTURES = Path(__file__).parents[1] / "fixtures" / "welfare"
SYSTEM = Actor.system("test")
FILES = {
    "csv": ("provinces/hcm_btxh_csv", "hcm_btxh_2026-07.csv"),
    "xlsx": ("provinces/xlsx_commune_sheets", "commune_sheets_2026-07.xlsx"),
    "template": ("canonical", "template_canonical.csv"),
}


def _canonical_from_file(kind: str) -> list[dict[str, str]]:
    name, filename = FILES[kind]
    mapping = engine.load(name)
    out = []
    for table in open_list(FIXTURES / filename, mapping.source).tables():
        extract = mapping.bind_header(table.header or (), table.sheet)
        skip = mapping.skipper(table.header or ())
        for raw in table.rows:
            if skip(raw.cells):  # type: ignore[arg-type]
                continue
            fields, problems = extract(raw.cells)
            checked = record.validate(fields)
            assert not problems and isinstance(checked, record.Canonical), (raw, checked)
            out.append(checked.as_row())
    return sorted(out, key=lambda r: r["source_ref"])


@pytest.fixture
def province(tmp_path: Path) -> Iterator[str]:
    """The province simulator on a real loopback port, serving the template's people."""
    (tmp_path / "lists").mkdir()
    shutil.copy(
        FIXTURES / "template_canonical.csv", tmp_path / "lists" / "79_ND20-TCXH_2026-07.csv"
    )
    server = make_server("127.0.0.1", 0, create_app(ProvinceData.from_world(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def _rest_source(url: str, tmp_path: Path) -> RestWelfareSource:
    settings = Settings(data_dir=tmp_path, welfare=WelfareSettings("rest", url, page_size=2))
    return RestWelfareSource(settings)


def test_three_shapes_and_the_template_give_identical_canonical_rows(
    province: str, tmp_path: Path
) -> None:
    source = _rest_source(province, tmp_path)
    (listed,) = source.lists()
    assert (listed.key, listed.programme, listed.mapping) == (
        "79/ND20-TCXH/2026-07",
        "ND20-TCXH",
        "provinces/rest_v1",
    )
    extract = engine.load(listed.mapping).bind_keys()
    rest_rows = []
    for item in source.rows(listed):  # three pages of two
        fields, problems = extract(item)
        checked = record.validate(fields)
        assert not problems and isinstance(checked, record.Canonical)
        rest_rows.append(checked.as_row())
    template = _canonical_from_file("template")
    assert len(template) == 5
    assert _canonical_from_file("csv") == template
    assert _canonical_from_file("xlsx") == template
    assert sorted(rest_rows, key=lambda r: r["source_ref"]) == template


def _enrollments(svc: Services, period: str) -> list[tuple[Any, ...]]:
    with svc.db.read() as conn:
        rows = conn.execute(
            select(
                enrollment.c.source_ref,
                enrollment.c.person_id,
                enrollment.c.unit_id,
                enrollment.c.amount,
                enrollment.c.channel,
                enrollment.c.coefficient_milli,
                enrollment.c.payee_account_id,
            )
            .where(enrollment.c.period == period)
            .order_by(enrollment.c.source_ref)
        ).all()
    return [tuple(r) for r in rows]


def test_each_shape_imports_the_same_enrollments(
    svc: Services, province: str, tmp_path: Path
) -> None:
    periods = {"csv": "2026-07", "xlsx": "2026-08", "template": "2026-09"}
    for kind, period in periods.items():
        name, filename = FILES[kind]
        summary = intake.import_file(
            svc,
            SYSTEM,
            open_list(FIXTURES / filename, engine.load(name).source),
            mapping=name,
            programme_code="ND20-TCXH",
            period=period,
        )
        assert (summary.accepted, summary.quarantined) == (5, 0), (kind, summary)
    source = _rest_source(province, tmp_path)
    (listed,) = source.lists()
    rest = intake.import_rows(
        svc,
        SYSTEM,
        source_key=listed.key,
        source_kind="rest",
        mapping=listed.mapping,
        programme_code="ND20-TCXH",
        period="2026-10",
        content_hash=listed.version,
        rows=source.rows(listed),
    )
    assert (rest.accepted, rest.quarantined) == (5, 0)
    first = _enrollments(svc, "2026-07")
    assert len(first) == 5 and len({r[1] for r in first}) == 5
    for period in ("2026-08", "2026-09", "2026-10"):
        assert _enrollments(svc, period) == first
