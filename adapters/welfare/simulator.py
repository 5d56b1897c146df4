"""``ansinh simulate province``: a provincial welfare database's paged REST API over real HTTP.

It serves the lists of a generated world (``lists/*.csv`` in the canonical template, named
``<province>_<programme>_<period>.csv``) in the province's own JSON vocabulary, read back by
``mappings/provinces/rest_v1.toml``, and keeps the statuses the gateway pushes back.
"""

from __future__ import annotations

import csv
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, request

from mappings.canonical import FIELDS

CHANNEL_CODES = {"bank": "CK", "postoffice": "TM", "": ""}


@dataclass
class ProvinceList:
    key: str  # "79/ND20-TCXH/2026-07"
    programme: str
    period: str
    rows: list[dict[str, str]]
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            digest = hashlib.sha256(repr(self.rows).encode())
            self.version = digest.hexdigest()

    @property
    def id(self) -> str:
        return self.key.replace("/", "_")


@dataclass
class ProvinceData:
    lists: dict[str, ProvinceList] = field(default_factory=dict)  # by id
    statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: ProvinceList) -> None:
        self.lists[item.id] = item

    @classmethod
    def from_world(cls, world: Path) -> ProvinceData:
        data = cls()
        by_header = {f.header_vi: f.name for f in FIELDS}
        for path in sorted((world / "lists").glob("*.csv")):
            province, programme, period = path.stem.split("_", 2)
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows = [
                    {by_header.get(k, k): v for k, v in row.items()} for row in csv.DictReader(fh)
                ]
            version = hashlib.sha256(path.read_bytes()).hexdigest()
            data.add(
                ProvinceList(f"{province}/{programme}/{period}", programme, period, rows, version)
            )
        return data


def as_item(row: dict[str, str]) -> dict[str, Any]:
    """A canonical row in the province's JSON vocabulary."""
    return {
        "maHoSo": row.get("source_ref", ""),
        "nguoiHuong": {
            "hoTen": row.get("full_name", ""),
            "ngaySinh": row.get("birth_date", ""),
            "gioiTinh": row.get("gender", ""),
            "soDinhDanh": row.get("personal_id", ""),
            "soCmnd": row.get("legacy_id", ""),
        },
        "diaChi": {"heMa": row.get("scheme", ""), "maXa": row.get("commune_code", "")},
        "heSo": row.get("coefficient", ""),
        "chiTra": {
            "hinhThuc": CHANNEL_CODES.get(row.get("channel", ""), row.get("channel", "")),
            "maNganHang": row.get("bank_bin", ""),
            "soTaiKhoan": row.get("account_number", ""),
        },
        "dienThoai": row.get("phone", ""),
    }


def create_app(data: ProvinceData, *, token: str | None = None) -> Flask:
    app = Flask("province-simulator")

    @app.before_request
    def _auth() -> None:
        if token and request.headers.get("Authorization") != f"Bearer {token}":
            abort(401)

    @app.get("/api/v1/lists")
    def lists() -> Any:
        return jsonify(
            lists=[
                {
                    "key": item.key,
                    "id": item.id,
                    "programme": item.programme,
                    "period": item.period,
                    "version": item.version,
                    "count": len(item.rows),
                    "mapping": "provinces/rest_v1",
                }
                for item in data.lists.values()
            ]
        )

    @app.get("/api/v1/lists/<list_id>/items")
    def items(list_id: str) -> Any:
        item = data.lists.get(list_id) or abort(404)
        page = max(1, request.args.get("page", 1, type=int))
        size = min(2000, max(1, request.args.get("page_size", 500, type=int)))
        chunk = item.rows[(page - 1) * size : page * size]
        more = page * size < len(item.rows)
        return jsonify(
            items=[as_item(r) for r in chunk],
            page=page,
            page_size=size,
            total=len(item.rows),
            next_page=page + 1 if more else None,
        )

    @app.post("/api/v1/lists/<list_id>/statuses")
    def push(list_id: str) -> Any:
        if list_id not in data.lists:
            abort(404)
        body = request.get_json(force=True, silent=True) or {}
        received = body.get("statuses")
        if not isinstance(received, list):
            abort(400)
        with data.lock:
            kept = data.statuses.setdefault(list_id, {})
            for status in received:
                kept[str(status.get("source_ref"))] = status
        return jsonify(received=len(received))

    @app.get("/api/v1/lists/<list_id>/statuses")
    def statuses(list_id: str) -> Any:
        return jsonify(statuses=list(data.statuses.get(list_id, {}).values()))

    return app
