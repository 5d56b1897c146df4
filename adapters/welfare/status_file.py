"""Per-person status back to the province as a file (CSV, Vietnamese headers)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import IO

from adapters.welfare.port import StatusReport

HEADER = ("Mã hồ sơ", "Trạng thái", "Mã lý do", "Lý do", "Số tiền", "Ngày chi trả")


def write_rows(fh: IO[str], statuses: Iterable[StatusReport]) -> int:
    writer = csv.writer(fh)
    writer.writerow(HEADER)
    count = 0
    for status in statuses:
        writer.writerow(["" if v is None else v for v in astuple(status)])
        count += 1
    return count


def write_statuses(path: Path, statuses: Iterable[StatusReport]) -> int:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        return write_rows(fh, statuses)
