"""Intake throughput: a provincial CSV streamed through a mapping and the canonical validator.

    .venv/bin/python benchmarks/intake.py [--quick] [--rows N]

Writes an N-row list (default 1,000,000; ``--quick`` 50,000) in a province's CSV shape, reads it
once with the bare ``csv`` module (the reference), then through the whole pipeline: file reader,
header binding, skip rules, mapping, validation (every row accepted or its problems collected).
Database writes are not part of this figure. Peak RSS is the process maximum.
Last line: {"rows_per_s": …, "csv_rows_per_s": …, "ratio": …, "peak_rss_mb": …}
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.welfare.files import open_list
from mappings import engine, record

MAPPING = "provinces/hcm_btxh_csv"
HEADER = [
    "STT",
    "Mã đối tượng",
    "Họ tên đối tượng",
    "Ngày tháng năm sinh",
    "Giới tính",
    "Số CCCD",
    "Số CMND",
    "Hệ mã",
    "Mã xã, phường",
    "Hệ số",
    "Hình thức nhận",
    "Mã NH",
    "Số tài khoản",
    "Điện thoại",
]
NAMES = ("Nguyễn Văn An", "Trần Thị Bích", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em")


def write_list(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["DANH SÁCH ĐỐI TƯỢNG HƯỞNG TRỢ CẤP XÃ HỘI"])
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            year = rng.randint(1930, 1965)
            male = rng.random() < 0.5
            pid = f"079{0 if male else 1}{year % 100:02d}{n % 1_000_000:06d}"
            bank = rng.random() < 0.6
            bad = n % 100 == 0  # 1% of rows carry a mistake, to be quarantined
            writer.writerow(
                [
                    n,
                    f"HS-{n:08d}",
                    rng.choice(NAMES),
                    "31/02/1950"
                    if bad
                    else f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}",
                    "Nam" if male else "Nữ",
                    pid,
                    "",
                    "2025-07",
                    "26743",
                    rng.choice(("1", "1,5", "2")),
                    "Chuyển khoản" if bank else "Tiền mặt",
                    "970436" if bank else "",
                    f"{rng.randint(10**9, 10**12)}" if bank else "",
                    "0912345678",
                ]
            )


def csv_rate(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        count = sum(1 for _ in csv.reader(fh, delimiter=";"))
    return count, time.perf_counter() - started


def pipeline_rate(path: Path) -> tuple[int, int, float]:
    mapping = engine.load(MAPPING)
    started = time.perf_counter()
    accepted = rejected = 0
    validate = record.validate
    for table in open_list(path, mapping.source).tables():
        extract = mapping.bind_header(table.header or (), table.sheet)
        skip = mapping.skipper(table.header or ())
        for raw in table.rows:
            if skip(raw.cells):  # type: ignore[arg-type]
                continue
            fields, problems = extract(raw.cells)
            checked = validate(fields)
            if problems or isinstance(checked, list):
                rejected += 1
            else:
                accepted += 1
    return accepted, rejected, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    args = parser.parse_args()
    rows = 50_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        write_list(path, rows)
        size_mb = path.stat().st_size / 1e6
        raw_rows, raw_s = csv_rate(path)
        accepted, rejected, pipe_s = pipeline_rate(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"file: {rows} rows, {size_mb:.0f} MB; csv module: {raw_rows / raw_s:,.0f} rows/s")
    print(
        f"mapping + validation: {(accepted + rejected) / pipe_s:,.0f} rows/s "
        f"({accepted} accepted, {rejected} quarantined)"
    )
    result = {
        "rows": rows,
        "rows_per_s": round((accepted + rejected) / pipe_s),
        "csv_rows_per_s": round(raw_rows / raw_s),
        "ratio": round((accepted + rejected) / pipe_s / (raw_rows / raw_s), 3),
        "peak_rss_mb": round(peak, 1),
        "accepted": accepted,
        "quarantined": rejected,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
