"""Exports stream: memory stays at one chunk however many rows are exported."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select

from gateway.db.tables import admin_unit, enrollment, person, programme
from gateway.security.principal import Actor
from gateway.services import exports
from gateway.services.context import Services

ROWS = 6_000


def _fill(svc: Services) -> None:
    now = svc.clock()
    with svc.db.begin() as conn:
        unit = conn.execute(
            select(admin_unit.c.id).where(
                admin_unit.c.scheme == "2025-07", admin_unit.c.code == "26743"
            )
        ).scalar_one()
        prog = conn.execute(select(programme.c.id).limit(1)).scalar_one()
        conn.execute(
            insert(person),
            [
                {
                    "id": i,
                    "full_name": f"Nguyễn Văn {i}",
                    "name_key": f"nguyen van {i}",
                    "birth_year": 1950,
                    "vital_status": "alive",
                    "created_at": now,
                }
                for i in range(1, ROWS + 1)
            ],
        )
        conn.execute(
            insert(enrollment),
            [
                {
                    "programme_id": prog,
                    "period": "2026-07",
                    "person_id": i,
                    "unit_id": unit,
                    "amount": 1_250_000,
                    "state": "approved",
                    "channel": "postoffice",
                    "created_at": now,
                }
                for i in range(1, ROWS + 1)
            ],
        )


def _peak(consume) -> int:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        consume()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_csv_and_xlsx_exports_hold_one_chunk_not_every_row(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "CHUNK", 250)  # 24 chunks: the test stays small and quick
    _fill(svc)
    who, everything = Actor.system("test"), exports.ExportFilter()
    sizes: list[int] = []

    def stream_csv() -> None:
        sizes.append(sum(len(b) for b in exports.csv_stream(exports.rows(svc, who, everything))))

    def materialise() -> None:
        rows = list(exports.rows(svc, who, everything))
        assert len(rows) == ROWS

    streamed, loaded = _peak(stream_csv), _peak(materialise)
    assert sizes[0] > 500_000  # the whole list went out…
    assert streamed < loaded / 3, (streamed, loaded)  # …holding a fraction of the rows
    book = io.BytesIO(b"".join(exports.xlsx_stream(exports.rows(svc, who, everything), title="t")))
    sheet = load_workbook(book, read_only=True).active
    assert sum(1 for _ in sheet.iter_rows(values_only=True)) == ROWS + 1
