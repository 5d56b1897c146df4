"""File mode of the bank simulator: pain.001 in (``PUT /files/inbound/<id>.xml``); pain.002,
camt.054 (the day's bookings) and, later, camt.053 with returns booked days after the payment out
(``GET /files/outbound[/<name>]``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, abort, jsonify, request
from lxml import etree

from adapters.payments import g2p
from adapters.payments.iso20022 import bankfiles, xmlsafe

if TYPE_CHECKING:
    from adapters.payments.simulator.bank import BankSim, Item

_due: dict[str, float] = {}


def _transactions(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    try:
        root = etree.fromstring(body, xmlsafe.parser())
    except etree.XMLSyntaxError:
        abort(400)
    msg_id = root.findtext(".//{*}GrpHdr/{*}MsgId") or ""
    txs = []
    for tx in root.iterfind(".//{*}CdtTrfTxInf"):
        txs.append(
            {
                "reference_id": tx.findtext("{*}PmtId/{*}EndToEndId"),
                "amount": tx.findtext("{*}Amt/{*}InstdAmt"),
                "payee_fa": g2p.payee_fa(
                    tx.findtext("{*}CdtrAgt/{*}FinInstnId/{*}Othr/{*}Id") or "",
                    tx.findtext("{*}CdtrAcct/{*}Id/{*}Othr/{*}Id") or "",
                ),
            }
        )
    return msg_id, txs


def _publish(sim: BankSim, name: str, body: bytes, delay: float = 0.0) -> None:
    sim.files[name] = body
    _due[name] = time.monotonic() + delay


def _entries(sim: BankSim, items: list[Item], *, returns: bool) -> list[bankfiles.Entry]:
    out = []
    for i in items:
        if returns and not i.returned:
            continue
        when = i.booked + dt.timedelta(days=sim.config.return_days if returns else 0)
        ref = hashlib.sha256(f"{i.reference}:{returns}".encode()).hexdigest()[:16].upper()
        entry = bankfiles.Entry(
            ref, i.reference, i.amount, when, returned_reason="AC04" if returns else None
        )
        out.append(entry)
        if sim.config.duplicate_lines:
            out.append(entry)
    return out


def _camt(sim: BankSim, kind: str, msg_id: str, entries: list[bankfiles.Entry]) -> bytes:
    buffer = io.BytesIO()
    bankfiles.write_camt(
        buffer, kind, msg_id, "0000000000", entries, created=dt.datetime.now(dt.UTC)
    )
    return buffer.getvalue()


def register_file_mode(app: Flask, sim: BankSim) -> None:
    @app.put("/files/inbound/<name>")
    def inbound(name: str) -> Any:
        body = request.get_data()
        if name in sim.inbound:
            return jsonify({"status": "duplicate" if sim.inbound[name] == body else "modified"})
        sim.inbound[name] = body
        msg_id, txs = _transactions(body)
        items = sim.accept({"transaction_id": msg_id, "disbursements": txs}, None)
        lines = [
            bankfiles.StatusLine(i.reference, "ACCP" if i.status == "succ" else "RJCT", i.reason)
            for i in items
        ]
        now = dt.datetime.now(dt.UTC)
        stem = hashlib.sha256(msg_id.encode()).hexdigest()[:12]
        delay = sim.config.callback_delay
        _publish(
            sim,
            f"pain002-{stem}.xml",
            bankfiles.pain002(f"STS-{stem}", msg_id, lines, created=now),
            delay,
        )
        settled = [i for i in items if i.status == "succ"]
        if settled:
            _publish(
                sim,
                f"camt054-{stem}.xml",
                _camt(sim, "camt.054", f"NTF-{stem}", _entries(sim, settled, returns=False)),
                delay,
            )
        returned = [i for i in settled if i.returned]
        if returned:
            _publish(
                sim,
                f"camt053-{stem}.xml",
                _camt(sim, "camt.053", f"STM-{stem}", _entries(sim, returned, returns=True)),
                delay + sim.config.return_delay,
            )
        return jsonify({"status": "accepted", "transactions": len(txs)})

    @app.get("/files/outbound")
    def outbound() -> Any:
        now = time.monotonic()
        return jsonify({"files": sorted(n for n in sim.files if _due.get(n, 0) <= now)})

    @app.get("/files/outbound/<name>")
    def outbound_file(name: str) -> Any:
        if name not in sim.files or _due.get(name, 0) > time.monotonic():
            abort(404)
        return app.response_class(sim.files[name], mimetype="application/xml")
