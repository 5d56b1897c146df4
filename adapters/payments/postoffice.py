"""The post office (VNPost-style cash payout): payout lists per payout point out, return files in.

Out: one list per payout point (CSV or XLSX) with the people to pay at that counter. In: a return
file with, per person, ``paid`` / ``unpaid`` / ``returned``, the time paid, the ID number the
officer recorded at the counter, the paying officer and an evidence reference (photo/signature).
An ID recorded at the counter that is not the beneficiary's is a mismatch, not a payment: the
confirmation service marks it ``id_mismatch``. Transport is HTTPS to the post office's file API
(``ANSINH_POSTOFFICE_URL``; mutual TLS with ``ANSINH_PAYMENTS_MTLS``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from adapters.http import Resilience, check_status, read_limited, timeouts
from adapters.payments import codecs
from adapters.payments.errors import rejected
from adapters.payments.port import (
    AccountCheck,
    Batch,
    BatchStatus,
    ConfirmationItem,
    InboundMessage,
    ItemStatus,
    PaymentItem,
    SubmitResult,
    batch_message_id,
)
from gateway.settings import HttpSettings

LIST_COLUMNS = ("reference", "payout_point", "full_name", "personal_id", "amount", "note")
RETURN_COLUMNS = (
    "reference",
    "payout_point",
    "status",
    "amount",
    "paid_at",
    "id_number",
    "officer",
    "evidence_ref",
    "reason",
)
OUTCOMES = {"paid": "settled", "unpaid": "unpaid", "returned": "returned"}
SOURCE = "postoffice"


def payout_lists(items: Iterable[PaymentItem]) -> dict[str, list[PaymentItem]]:
    by_point: dict[str, list[PaymentItem]] = {}
    for item in items:
        by_point.setdefault(item.payout_point or "unknown", []).append(item)
    return dict(sorted(by_point.items()))


def list_csv(items: Sequence[PaymentItem]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LIST_COLUMNS)
    for i in items:
        writer.writerow((i.reference, i.payout_point, i.payee_name, i.payee_pid, i.amount, i.note))
    return out.getvalue().encode()


def list_xlsx(items: Sequence[PaymentItem]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("payout")
    sheet.append(LIST_COLUMNS)
    for i in items:
        sheet.append([i.reference, i.payout_point, i.payee_name, i.payee_pid, i.amount, i.note])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def return_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, RETURN_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def read_rows(body: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, BOM allowed) or XLSX file, keyed by lower-case header."""
    if body[:2] == b"PK":
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(body), read_only=True, data_only=True).worksheets[0]
        values = [
            ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
        ]
        if not values:
            return []
        head = [h.strip().lower() for h in values[0]]
        return [dict(zip(head, row, strict=False)) for row in values[1:]]
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise rejected(
            "file.encoding", "the return file is not UTF-8", "tệp trả về không mã hóa UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in r.items()} for r in reader]


def parse_return_file(body: bytes, message_id: str | None = None) -> InboundMessage:
    """Every row checked; one bad row refuses the file (naming row and field), nothing partial."""
    rows = read_rows(body)
    if not rows or not {"reference", "status"} <= set(rows[0]):
        raise rejected(
            "file.columns",
            "the return file needs at least the columns reference and status",
            "tệp trả về phải có ít nhất các cột reference và status",
        )
    items, problems = [], []
    for number, row in enumerate(rows, start=2):
        try:
            items.append(_item(row))
        except ValueError as exc:
            problems.append({"row": number, "field": exc.args[0], "rule": exc.args[1]})
    if problems:
        first = problems[0]
        raise rejected(
            "file.row.invalid",
            f"row {first['row']}: {first['field']} {first['rule']}",
            f"dòng {first['row']}: trường {first['field']} không hợp lệ ({first['rule']})",
            problems=problems[:50],
        )
    digest = hashlib.sha256(body).hexdigest()[:32]
    return InboundMessage(
        SOURCE, message_id or f"return:{digest}", "return-file", body, tuple(items)
    )


def _item(row: dict[str, str]) -> ConfirmationItem:
    reference, status = row.get("reference", ""), row.get("status", "").lower()
    if not reference:
        raise ValueError("reference", "required")
    if status not in OUTCOMES:
        raise ValueError("status", "must be paid, unpaid or returned")
    amount = None
    if row.get("amount"):
        if not row["amount"].isdigit():
            raise ValueError("amount", "must be whole VND")
        amount = int(row["amount"])
    paid_at = None
    if row.get("paid_at"):
        try:
            paid_at = dt.datetime.fromisoformat(row["paid_at"])
        except ValueError:
            raise ValueError("paid_at", "must be an ISO date-time") from None
    counter = row.get("id_number") or None
    if status == "paid" and not (counter and row.get("evidence_ref")):
        raise ValueError("id_number/evidence_ref", "required when paid")
    return ConfirmationItem(
        reference=reference,
        item_key=f"return:{reference}:{status}",
        outcome=OUTCOMES[status],
        amount=amount,
        reason_code=row.get("reason") or None,
        raw_status=status,
        counter_pid=counter,
        evidence_ref=row.get("evidence_ref") or None,
        occurred_at=paid_at,
        officer=row.get("officer") or None,
    )


class PostOfficeChannel:
    """HTTP client of the post office's payout-file API."""

    name = "postoffice"
    channel = "postoffice"

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        http: HttpSettings,
        *,
        list_format: str = "csv",
    ) -> None:
        self.base = base_url.rstrip("/")
        self.session, self.http = session, http
        self.list_format = list_format  # csv | xlsx
        self.resilience = Resilience(http, "postoffice")

    def _call(self, method: str, path: str, *, retry: bool = True, **kw: Any) -> bytes:
        def go() -> bytes:
            response = self.session.request(
                method, self.base + path, timeout=timeouts(self.http), stream=True, **kw
            )
            check_status(response, "postoffice")
            return read_limited(response, self.http.max_response_bytes, "postoffice")

        return self.resilience.call(go, retry=retry)

    def submit(self, batch: Batch) -> SubmitResult:
        wire = batch_message_id(batch.reference)
        xlsx = self.list_format == "xlsx"
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        for point, items in payout_lists(batch.items).items():
            # PUT of a named file: a resend of the same list is idempotent at the post office
            self._call(
                "PUT",
                f"/payout-lists/{wire}/{point}.{'xlsx' if xlsx else 'csv'}",
                data=list_xlsx(items) if xlsx else list_csv(items),
                headers={"Content-Type": kind if xlsx else "text/csv"},
                retry=False,
            )
        return SubmitResult("ACK", wire)

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        import json

        body = self._call("POST", "/payouts/status", json={"references": list(references)})
        return [
            ItemStatus(r["reference"], r["status"], r.get("reason"), None, r.get("amount"))
            for r in json.loads(body)["items"]
        ]

    def batch_status(self, batch_reference: str, references: Sequence[str]) -> BatchStatus:
        items = self.status(references)
        done = sum(1 for i in items if i.status in ("succ", "rjct"))
        return BatchStatus(batch_reference, len(items), done, tuple(items))

    def status_message(self, references: Sequence[str]) -> InboundMessage:
        raise rejected(
            "postoffice.status_not_a_confirmation",
            "the post office confirms by return file only",
            "bưu điện chỉ xác nhận bằng tệp trả về",
        )

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        return AccountCheck(False, None, "unknown", "NARR")

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        import json

        body = self._call("POST", "/payouts/cancel", json={"references": list(references)})
        return [
            ItemStatus(r["reference"], r["status"], r.get("reason"))
            for r in json.loads(body)["items"]
        ]

    def fetch_confirmations(self) -> list[InboundMessage]:
        import json

        names = json.loads(self._call("GET", "/return-files"))["files"]
        return [
            self.decode("return-file", self._call("GET", f"/return-files/{n}"), name=n)
            for n in names
        ]

    def decode(
        self, kind: str, body: bytes, *, verify: bool = True, name: str | None = None
    ) -> InboundMessage:
        if kind in codecs.ISO_KINDS or kind == "iso20022":
            return codecs.decode_iso(f"iso20022:{self.name}", body, verify=verify)
        return parse_return_file(body, f"return:{name}" if name else None)
