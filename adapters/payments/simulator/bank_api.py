"""The bank simulator's HTTP API (G2P Connect disburse, txn/status, mapper resolve, cancel) and
its file mode; see ``adapters.payments.simulator.bank`` for what the bank does."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from flask import Flask, jsonify

from adapters.payments import g2p
from adapters.payments.simulator.bank import BankSim
from gateway.domain.names import bank_form


def create_app(sim: BankSim) -> Flask:
    app = Flask("bank-sim")

    @app.post("/disburse")
    def disburse() -> Any:
        body = sim.verified()
        message = body.get("message") or {}
        head = body.get("header") or {}
        modified = sim.modified(message)
        items = sim.accept(message, head.get("sender_uri"))
        sim.schedule_callbacks(items, str(message.get("transaction_id", "")))
        if modified:
            for d in modified:
                d["status"] = "rjct"
        return jsonify(
            {
                "message": {
                    "ack_status": "ACK",
                    "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "correlation_id": f"{sim.config.bank_id}:{message.get('transaction_id')}",
                    "modified": [
                        {
                            "reference_id": d.get("reference_id"),
                            "status_reason_code": "rjct.reference_id.duplicate",
                        }
                        for d in modified
                    ],
                }
            }
        )

    @app.post("/disburse/sync/txn/status")
    def txn_status() -> Any:
        body = sim.verified()
        request_ = (body.get("message") or {}).get("txnstatus_request") or {}
        refs = request_.get("attribute_value") or []
        entries = []
        for ref in refs:
            item = sim.items.get(str(ref))
            if item is None:
                entries.append(
                    {
                        "reference_id": ref,
                        "status": "rjct",
                        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        "status_reason_code": "rjct.reference_id.invalid",
                    }
                )
            else:
                entries.append(sim.status_entry(item, returned=item.returned))
        message = {
            "transaction_id": (body.get("message") or {}).get("transaction_id"),
            "correlation_id": "status",
            "txnstatus_response": {
                "txn_type": "on-disburse",
                "txn_status": {"transaction_id": "status", "disbursements_status": entries},
            },
        }
        return jsonify(sim.signed("txn/on-status", message, total=len(entries)))

    @app.post("/mapper/sync/resolve")
    def resolve() -> Any:
        body = sim.verified()
        answers = []
        for req in (body.get("message") or {}).get("resolve_request") or []:
            parsed = g2p.parse_fa(str(req.get("fa", "")))
            account = sim.accounts.get(parsed) if parsed else None
            rng = random.Random(f"{sim.config.seed}:name:{req.get('fa')}")
            if account is None:
                answers.append(
                    {
                        "reference_id": req.get("reference_id"),
                        "status": "succ",
                        "status_reason_code": "succ.fa.not_found",
                        "account_status": "not_found",
                    }
                )
                continue
            name = account[0]
            if rng.random() < sim.config.name_mismatch_rate:
                name = bank_form("Trần Văn Người Khác")
            answers.append(
                {
                    "reference_id": req.get("reference_id"),
                    "status": "succ",
                    "status_reason_code": "succ.fa.active"
                    if account[1] == "active"
                    else "succ.fa.inactive",
                    "name": name,
                    "account_status": account[1],
                }
            )
        return jsonify(sim.signed("on-resolve", {"resolve_response": answers}, total=1))

    @app.post("/disburse/sync/cancel")
    def cancel() -> Any:
        body = sim.verified()
        entries = []
        with sim.lock:
            for ref in (body.get("message") or {}).get("cancel_request") or []:
                entries.append(_cancel_one(sim, str(ref)))
        return jsonify(
            sim.signed("on-cancel", {"disbursements_status": entries}, total=len(entries))
        )

    @app.get("/_sim/stats")
    def stats() -> Any:
        s = sim.deliverer.stats
        counts: dict[str, int] = {}
        for item in sim.items.values():
            counts[item.status] = counts.get(item.status, 0) + 1
        return jsonify(
            {
                "items": counts,
                "returned": sum(i.returned for i in sim.items.values()),
                "pending_callbacks": sim.deliverer.pending(),
                **{k: v for k, v in s.__dict__.items() if k != "digests"},
            }
        )

    from adapters.payments.simulator.bank_files import register_file_mode

    register_file_mode(app, sim)
    return app


def _cancel_one(sim: BankSim, reference: str) -> dict[str, Any]:
    """``succ``: cancelled before execution; ``rjct``: executed already, or not ours."""
    entry: dict[str, Any] = {
        "reference_id": reference,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    item = sim.items.get(reference)
    if item is None:
        return entry | {"status": "rjct", "status_reason_code": "rjct.reference_id.invalid"}
    if item.cancelled or not item.executed():
        item.cancelled = True
        return entry | {"status": "succ", "status_reason_code": "succ.cancelled"}
    return entry | {"status": "rjct", "status_reason_code": "rjct.already_executed"}
