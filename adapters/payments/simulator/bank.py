"""``ansinh simulate bank``: a bank speaking G2P Connect disburse (REST mode) and taking pain.001
files, answering with pain.002 and camt.054/camt.053 (file mode) — with the misbehaviour a
gateway must survive, each configurable (see ``BankConfig`` and adapters/payments/README.md):
rejects with ISO reason codes, returns days later, duplicated / out-of-order / lost / slow
callbacks, duplicated statement lines, account-name mismatches.

Requests must carry the gateway's valid signature; everything the bank sends is signed with the
bank's key. Idempotent by ``reference_id``: the same item again changes nothing; the same
reference with other content is answered ``rjct.reference_id.duplicate``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Response, abort, request

from adapters import signing
from adapters.payments import g2p
from adapters.payments.simulator.delivery import Deliverer, Lazy

REJECT_CODES = ("AC01", "AC06", "AG01", "MD07", "RC01")


@dataclass
class BankConfig:
    bank_id: str = "bank-sim"
    key_id: str = "bank-sim-1"
    reject_rate: float = 0.0  # besides accounts that are closed/blocked/unknown
    reject_codes: tuple[str, ...] = REJECT_CODES
    return_rate: float = 0.0  # settled, then returned later (AC04)
    return_delay: float = 2.0  # seconds until the return is reported
    return_days: int = 3  # the return's booking date, days after the payment
    duplicate_callbacks: int = 1  # each callback sent this many times
    shuffle: bool = False  # callbacks out of order (final before pending, batches mixed)
    lost_rate: float = 0.0  # callbacks never sent (txn/status still knows)
    callback_delay: float = 0.0  # slow callbacks (seconds)
    callback_threads: int = 1  # callbacks sent in parallel (copies may arrive together)
    execute_after: float = 0.0  # items wait this long before execution: cancel works until then
    pending_first: bool = True  # a pdng callback before the final one
    duplicate_lines: bool = False  # file mode: every statement entry twice
    name_mismatch_rate: float = 0.0  # account inquiry answers someone else's name
    callback_url: str | None = None  # overrides the sender_uri of requests
    chunk: int = 100  # items per callback message
    seed: int = 7


@dataclass
class Item:
    reference: str
    amount: int
    fa: str
    digest: str
    transaction_id: str
    callback_url: str | None
    status: str = "rcvd"
    reason: str | None = None
    returned: bool = False
    booked: dt.date = field(default_factory=dt.date.today)
    due: float = 0.0  # time.monotonic() of execution
    cancelled: bool = False

    def executed(self) -> bool:
        return not self.cancelled and time.monotonic() >= self.due


def load_accounts(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """accounts.csv of the generated world: person_idx, bin, account_number, holder_name, status."""
    with path.open(newline="", encoding="utf-8") as fh:
        return {
            (r["bin"], r["account_number"]): (r["holder_name"], r["status"])
            for r in csv.DictReader(fh)
        }


class BankSim:
    def __init__(
        self,
        config: BankConfig,
        accounts: dict[tuple[str, str], tuple[str, str]],
        key: Ed25519PrivateKey,
        gateway_keys: signing.KeyStore,
        *,
        deliverer: Deliverer | None = None,
    ) -> None:
        self.config, self.accounts, self.key, self.gateway_keys = (
            config,
            accounts,
            key,
            gateway_keys,
        )
        self.items: dict[str, Item] = {}
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self.deliverer = deliverer or Deliverer(threads=config.callback_threads)
        self.files: dict[str, bytes] = {}  # file mode: outbound pain.002 / camt, by name
        self.inbound: dict[str, bytes] = {}

    # -- signing --------------------------------------------------------------------------

    def signed(self, action: str, message: dict[str, Any], **head: Any) -> dict[str, Any]:
        header = g2p.header(
            action, f"{self.config.bank_id}:{uuid.uuid4()}", self.config.bank_id, **head
        )
        return signing.envelope(
            header,
            message,
            key=self.key,
            sender_id=self.config.bank_id,
            key_id=self.config.key_id,
        )

    def verified(self) -> dict[str, Any]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            abort(400)
        try:
            signing.verify(body, self.gateway_keys)
        except signing.SignatureError as exc:
            abort(Response(json.dumps({"error": exc.code}), 401, mimetype="application/json"))
        return body

    # -- execution ------------------------------------------------------------------------

    def execute(self, item: Item) -> None:
        """Decide the final outcome of one item (deterministic for a seed and reference)."""
        rng = random.Random(f"{self.config.seed}:{item.reference}")
        parsed = g2p.parse_fa(item.fa)
        account = self.accounts.get(parsed) if parsed else None
        if account is None:
            item.status, item.reason = "rjct", "AC01"
        elif account[1] in ("closed", "blocked"):
            item.status, item.reason = "rjct", "AC04" if account[1] == "closed" else "AC06"
        elif rng.random() < self.config.reject_rate:
            item.status, item.reason = "rjct", rng.choice(self.config.reject_codes)
        else:
            item.status = "succ"
            item.returned = rng.random() < self.config.return_rate

    def status_entry(self, item: Item, *, returned: bool = False) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "reference_id": item.reference,
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": "rjct" if returned else item.status,
            "amount": g2p.amount_text(item.amount),
            "currency_code": "VND",
        }
        if item.cancelled:
            return entry | {"status": "rjct", "status_reason_code": "rjct.cancelled"}
        if not item.executed():
            return entry | {"status": "pdng"}
        if returned:
            entry |= {"status_reason_code": "AC04", "instruction": "return"}
        elif item.reason:
            entry["status_reason_code"] = item.reason
        return entry

    def accept(self, message: dict[str, Any], callback_url: str | None) -> list[Item]:
        fresh: list[Item] = []
        with self.lock:
            for d in message.get("disbursements") or []:
                digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
                known = self.items.get(str(d.get("reference_id")))
                if known is not None:
                    continue  # same reference: executed once (a modified one is caught below)
                item = Item(
                    str(d["reference_id"]),
                    g2p.parse_amount(d.get("amount")) or 0,
                    str(d.get("payee_fa", "")),
                    digest,
                    str(message.get("transaction_id", "")),
                    self.config.callback_url or callback_url,
                )
                item.due = time.monotonic() + self.config.execute_after
                self.execute(item)
                self.items[item.reference] = item
                fresh.append(item)
        return fresh

    def modified(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for d in message.get("disbursements") or []:
            known = self.items.get(str(d.get("reference_id")))
            digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
            if known is not None and known.digest != digest:
                out.append(d)
        return out

    # -- callbacks ------------------------------------------------------------------------

    def schedule_callbacks(self, items: list[Item], transaction_id: str) -> None:
        cfg = self.config
        later = cfg.execute_after > 0  # decided when due: a cancelled item is not reported
        messages: list[tuple[float, Any, str]] = []
        for start in range(0, len(items), cfg.chunk):
            part = [i for i in items[start : start + cfg.chunk] if i.callback_url]
            if not part:
                continue
            url = part[0].callback_url or ""
            if cfg.pending_first:
                pending = [self.status_entry(i) | {"status": "pdng"} for i in part]
                messages.append((cfg.callback_delay, self._body(transaction_id, pending), url))
            due = cfg.callback_delay + cfg.execute_after

            def final(part: list[Item] = part) -> list[dict[str, Any]]:
                return [self.status_entry(i) for i in part if not i.cancelled]

            def returns(part: list[Item] = part) -> list[dict[str, Any]]:
                return [
                    self.status_entry(i, returned=True)
                    for i in part
                    if i.returned and not i.cancelled
                ]

            messages.append((due, self._later(transaction_id, final, eager=not later), url))
            if any(i.returned for i in part):
                body = self._later(transaction_id, returns, eager=not later)
                messages.append((due + cfg.return_delay, body, url))
        if cfg.shuffle:
            self.rng.shuffle(messages)
        for order, (delay, body, url) in enumerate(messages):
            if self.rng.random() < cfg.lost_rate:
                self.deliverer.stats.lost += 1
                continue
            # out of order: later messages may overtake earlier ones
            jitter = (len(messages) - order) * 0.01 if cfg.shuffle else order * 0.001
            for _copy in range(max(1, cfg.duplicate_callbacks)):
                self.deliverer.send(url, body, delay=delay + jitter)

    def _body(self, transaction_id: str, entries: list[dict[str, Any]]) -> bytes | None:
        if not entries:
            return None
        envelope = self.signed(
            "on-disburse",
            {"transaction_id": transaction_id, "disbursements_status": entries},
            total=len(entries),
            completed_count=sum(1 for e in entries if e["status"] in ("succ", "rjct")),
        )
        return json.dumps(envelope).encode()

    def _later(self, transaction_id: str, entries: Any, *, eager: bool) -> Any:
        lazy = Lazy(lambda: self._body(transaction_id, entries()))
        if eager:
            return lazy() or Lazy(lambda: None)
        return lazy
