"""A bank that takes pain.001 files and answers with pain.002 reports and camt.054/053 statements,
over an HTTPS file drop (the stand-in for the bank's SFTP host): ``PUT /files/inbound/<id>.xml``,
``GET /files/outbound`` and ``GET /files/outbound/<name>``. Account checks go through the
bank's REST mapper (``check_account``), which file banks offer beside their file host."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import requests

from adapters.http import Resilience, check_status, read_limited, timeouts
from adapters.payments import codecs
from adapters.payments.errors import rejected
from adapters.payments.iso20022.write import Debtor, pain001
from adapters.payments.port import (
    AccountCheck,
    Batch,
    BatchStatus,
    InboundMessage,
    ItemStatus,
    SubmitResult,
    batch_message_id,
)
from gateway.settings import HttpSettings


class IsoFileChannel:
    channel = "bank"

    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        http: HttpSettings,
        *,
        bank_id: str,
        debtor: Debtor,
        version: str,
        account_check: Callable[[str, str], AccountCheck],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.base, self.session, self.http = base_url.rstrip("/"), session, http
        self.name = f"iso20022:{bank_id}"[:32]
        self.debtor, self.version, self._check, self._clock = debtor, version, account_check, clock
        self.resilience = Resilience(http, "bank")

    def _call(self, method: str, path: str, *, retry: bool = True, **kw: Any) -> bytes:
        def go() -> bytes:
            response = self.session.request(
                method, self.base + path, timeout=timeouts(self.http), stream=True, **kw
            )
            check_status(response, "bank")
            return read_limited(response, self.http.max_response_bytes, "bank")

        return self.resilience.call(go, retry=retry)

    def submit(self, batch: Batch) -> SubmitResult:
        now = self._clock()
        body = pain001(
            batch, debtor=self.debtor, created=now, execution_date=now.date(), version=self.version
        )
        wire = batch_message_id(batch.reference)
        self._call(
            "PUT",
            f"/files/inbound/{wire}.xml",
            data=body,
            headers={"Content-Type": "application/xml"},
            retry=False,
        )
        return SubmitResult("ACK", wire)

    def status(self, references: Sequence[str]) -> list[ItemStatus]:
        return [
            ItemStatus(r, "pdng", None, "file channel: status comes by pain.002/camt")
            for r in references
        ]

    def batch_status(self, batch_reference: str, references: Sequence[str]) -> BatchStatus:
        return BatchStatus(batch_reference, len(references), 0, tuple(self.status(references)))

    def status_message(self, references: Sequence[str]) -> InboundMessage:
        raise rejected(
            "iso20022.no_status_query",
            "a file bank reports status in pain.002 and camt files only",
            "ngân hàng qua tệp chỉ báo trạng thái bằng tệp pain.002/camt",
        )

    def check_account(self, bin_code: str, account: str) -> AccountCheck:
        return self._check(bin_code, account)

    def cancel(self, references: Sequence[str]) -> list[ItemStatus]:
        return [ItemStatus(r, "rjct", "rjct.cancel.not_supported") for r in references]

    def fetch_confirmations(self) -> list[InboundMessage]:
        names = json.loads(self._call("GET", "/files/outbound"))["files"]
        return [self.decode("iso20022", self._call("GET", f"/files/outbound/{n}")) for n in names]

    def decode(self, kind: str, body: bytes, *, verify: bool = True) -> InboundMessage:
        return codecs.decode_iso(self.name, body, verify=verify)
