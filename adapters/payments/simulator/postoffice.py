"""``ansinh simulate postoffice``: payout lists in (``PUT /payout-lists/<batch>/<point>.csv``),
return files out (``GET /return-files[/<name>]``) with per person paid / unpaid / returned, the
time paid, the ID recorded at the counter, the paying officer and an evidence reference.
Configurable: unpaid and returned rates, IDs recorded at the counter that are someone else's,
duplicated rows, XLSX instead of CSV, a delay before return files appear."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, abort, jsonify, request

from adapters.payments.postoffice import RETURN_COLUMNS, read_rows, return_csv

STATUS = {"paid": "succ", "unpaid": "rjct", "returned": "rjct"}


@dataclass
class PostOfficeConfig:
    unpaid_rate: float = 0.0  # nobody came to the counter
    returned_rate: float = 0.0  # paid, then the cash came back (refused, wrong person)
    id_mismatch_rate: float = 0.0  # the officer recorded someone else's ID number
    duplicate_rows: bool = False
    xlsx: bool = False
    return_delay: float = 0.0
    seed: int = 7


@dataclass
class PostOfficeSim:
    config: PostOfficeConfig
    lists: dict[str, bytes] = field(default_factory=dict)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pay(self, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        cfg, out = self.config, []
        for row in rows:
            rng = random.Random(f"{cfg.seed}:{row['reference']}")
            draw = rng.random()
            status = (
                "unpaid"
                if draw < cfg.unpaid_rate
                else "returned"
                if draw < cfg.unpaid_rate + cfg.returned_rate
                else "paid"
            )
            counter = row.get("personal_id", "")
            if status == "paid" and rng.random() < cfg.id_mismatch_rate:
                counter = f"{int(counter or 0) + 1:012d}"  # someone else's number
            record = {
                "reference": row["reference"],
                "payout_point": row.get("payout_point", ""),
                "status": status,
                "amount": row.get("amount", "") if status == "paid" else "",
                "paid_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                if status == "paid"
                else "",
                "id_number": counter if status == "paid" else "",
                "officer": f"BDV-{row.get('payout_point', '')}-{rng.randint(1, 9)}",
                "evidence_ref": f"sig-{hashlib.sha256(row['reference'].encode()).hexdigest()[:10]}"
                if status == "paid"
                else "",
                "reason": "refused" if status == "returned" else "",
            }
            self.outcomes[row["reference"]] = record
            out.append(record)
            if cfg.duplicate_rows:
                out.append(record)
        return out

    def render(self, rows: list[dict[str, Any]]) -> bytes:
        if not self.config.xlsx:
            return return_csv(rows)
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("returns")
        sheet.append(RETURN_COLUMNS)
        for r in rows:
            sheet.append([r[c] for c in RETURN_COLUMNS])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()


def create_app(sim: PostOfficeSim) -> Flask:
    app = Flask("postoffice-sim")

    @app.put("/payout-lists/<batch>/<name>")
    def upload(batch: str, name: str) -> Any:
        body, key = request.get_data(), f"{batch}/{name}"
        with sim.lock:
            if key in sim.lists:
                if sim.lists[key] != body:
                    abort(409)
                return jsonify({"status": "duplicate"})
            sim.lists[key] = body
            rows = read_rows(body)  # CSV or XLSX, as the gateway sent it
            returned = sim.pay(rows)
            ext = "xlsx" if sim.config.xlsx else "csv"
            file_name = f"return-{batch}-{name.rsplit('.', 1)[0]}.{ext}"
            sim.files[file_name] = (
                time.monotonic() + sim.config.return_delay,
                sim.render(returned),
            )
        return jsonify({"status": "accepted", "rows": len(rows)})

    @app.get("/return-files")
    def listing() -> Any:
        now = time.monotonic()
        return jsonify({"files": sorted(n for n, (due, _) in sim.files.items() if due <= now)})

    @app.get("/return-files/<name>")
    def download(name: str) -> Any:
        if name not in sim.files or sim.files[name][0] > time.monotonic():
            abort(404)
        return app.response_class(sim.files[name][1], mimetype="application/octet-stream")

    @app.post("/payouts/status")
    def status() -> Any:
        refs = (request.get_json(silent=True) or {}).get("references") or []
        items = []
        for ref in refs:
            record = sim.outcomes.get(ref)
            items.append(
                {
                    "reference": ref,
                    "status": STATUS[record["status"]] if record else "rjct",
                    "reason": record["status"] if record else "rjct.reference_id.invalid",
                }
            )
        return jsonify({"items": items})

    @app.post("/payouts/cancel")
    def cancel() -> Any:
        refs = (request.get_json(silent=True) or {}).get("references") or []
        return jsonify(
            {
                "items": [
                    {"reference": r, "status": "rjct", "reason": "rjct.already_executed"}
                    for r in refs
                ]
            }
        )

    return app
