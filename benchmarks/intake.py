"""Intake: a provincial CSV imported through a mapping, with validation, into the database.

    .venv/bin/python benchmarks/intake.py [--quick] [--rows N] [--postgresql] [--pg-rows M]

Writes an N-row list (default 1,000,000; ``--quick`` 50,000) in a province's CSV shape (``;``,
Vietnamese headers, a title line; 1% of rows carry a mistake and are quarantined), then, in the
same run:

* the reference: the bare ``csv`` module reading the file;
* read + map + validate: the file reader, skip rules, the compiled mapping and the canonical
  validator (the reference path for the rows it holds back) — no database;
* the real import, ``ansinh intake import`` minus the CLI: ``intake.import_file`` reading, mapping,
  validating, screening and writing persons, accounts, enrollments, transitions and quarantine to
  SQLite (the default database), in a fresh process whose peak RSS is reported — and a tenth of
  the list imported the same way, to show the peak does not grow with the file;
* with ``--postgresql``, the same import into a fresh PostgreSQL database (``--pg-rows``, default
  200,000: each enrollment row fires five foreign-key checks there).

Last line: {"rows_per_s": <full import, SQLite>, "csv_rows_per_s": …, "ratio": …,
"peak_rss_mb": …, "validate_rows_per_s": …, "validate_ratio": …, …}
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.welfare.make_fixtures import HCM_HEADER

MAPPING = "provinces/hcm_btxh_csv"
PG_ADMIN = os.environ.get("ANSINH_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi")
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thị Thu", "Văn Quang")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hùng", "Tuấn", "Hương", "Lan", "Mai", "Hoa", "Bích")
COMMUNES = ("25747", "25750", "25760", "25768", "25771", "26737", "26740", "26743")  # 2025-07
BANKS = ("970436", "970415", "970418", "970405", "970422")


def write_list(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["DANH SÁCH ĐỐI TƯỢNG HƯỞNG TRỢ CẤP XÃ HỘI"])
        writer.writerow(HCM_HEADER)
        for n in range(1, rows + 1):
            year = rng.randint(1930, 1965)
            male = rng.random() < 0.5
            # unique per row: prefix 079, century/gender digit, year, a 6-digit serial
            pid = f"079{0 if male else 1}{year % 100:02d}{n % 1_000_000:06d}"
            bank = rng.random() < 0.6
            bad = n % 100 == 0  # 1% of rows carry a mistake, to be quarantined
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            born = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{year}"
            writer.writerow(
                [
                    n,
                    f"HS-{n:08d}",
                    name,
                    "31/02/1950" if bad else born,
                    "Nam" if male else "Nữ",
                    pid,
                    "",
                    "2025-07",
                    rng.choice(COMMUNES),
                    rng.choice(("1", "1,5", "2", "2,5")),
                    "Chuyển khoản" if bank else "Tiền mặt",
                    rng.choice(BANKS) if bank else "",
                    f"{rng.randint(10**9, 10**12)}" if bank else "",
                    f"09{rng.randint(10**7, 10**8 - 1)}",
                ]
            )


def csv_rate(path: Path) -> float:
    started = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        count = sum(1 for _ in csv.reader(fh, delimiter=";"))
    return count / (time.perf_counter() - started)


def validate_rate(path: Path) -> tuple[float, int, int]:
    """Read + map + validate, as intake does it, without the database."""
    from adapters.welfare.files import open_list
    from mappings import compiled, engine, record

    mapping = engine.load(MAPPING)
    started = time.perf_counter()
    accepted = held = 0
    for table in open_list(path, mapping.source).tables():
        header = table.header or ()
        fast = compiled.compile_table(mapping, header, table.sheet)
        extract = mapping.bind_header(header, table.sheet)
        skip = mapping.skipper(header)
        for _, cells in table.cells:
            if skip(cells):
                continue
            if fast(cells) is not None:
                accepted += 1
                continue
            fields, problems = extract(cells)
            checked = record.validate(fields)
            if problems or isinstance(checked, list):
                held += 1
            else:
                accepted += 1
    return (accepted + held) / (time.perf_counter() - started), accepted, held


def child_import(path: str, url: str) -> None:
    """One import in this fresh process: the database is prepared first (not timed)."""
    from adapters.welfare.files import open_list
    from gateway.bootstrap import build_services
    from gateway.db import migrate
    from gateway.db.engine import make_engine
    from gateway.refdata import admin_units, programmes
    from gateway.security.principal import Actor
    from gateway.services import intake
    from gateway.settings import Settings
    from mappings import engine as mappings

    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        admin_units.load(conn)
        programmes.seed(conn)
    engine.dispose()
    # development keys, generated into the temporary directory
    svc = build_services(Settings(data_dir=Path(path).parent, database_url=url))
    started = time.perf_counter()
    summary = intake.import_file(
        svc,
        Actor.system("benchmark"),
        open_list(Path(path), mappings.load(MAPPING).source),
        mapping=MAPPING,
        programme_code="ND20-TCXH",
        period="2026-07",
    )
    seconds = time.perf_counter() - started
    svc.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, **summary.as_dict()}))


def run_import(path: Path, url: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def first_rows(source: Path, target: Path, rows: int) -> None:
    with source.open(encoding="utf-8-sig") as fh, target.open("w", encoding="utf-8-sig") as out:
        for n, line in enumerate(fh):
            if n >= rows + 2:  # the title and header lines, then the rows
                break
            out.write(line)


def postgres_import(path: Path) -> dict[str, object]:
    from sqlalchemy import create_engine, text

    name = f"ansinh_bench_intake_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return run_import(path, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--postgresql", action="store_true", help="also import into PostgreSQL")
    parser.add_argument("--pg-rows", type=int, default=200_000)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_import(*args.child)
        return
    rows = 50_000 if args.quick else args.rows
    result: dict[str, object] = {"rows": rows, "database": "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "list.csv"
        write_list(path, rows)
        csv_per_s = csv_rate(path)
        validate_per_s, accepted, held = validate_rate(path)
        print(f"file: {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")
        print(f"csv module: {csv_per_s:,.0f} rows/s")
        print(f"read + map + validate: {validate_per_s:,.0f} rows/s ({accepted} ok, {held} held)")
        full = run_import(path, f"sqlite:///{tmp}/import.db")
        rate = rows / float(full["seconds"])  # type: ignore[arg-type]
        print(
            f"import into SQLite: {rate:,.0f} rows/s ({full['accepted']} accepted, "
            f"{full['quarantined']} quarantined), peak RSS {full['peak_rss_mb']:.0f} MB"
        )
        Path(f"{tmp}/import.db").unlink()
        small_rows = max(rows // 10, 1)
        small_path = Path(tmp) / "small.csv"
        first_rows(path, small_path, small_rows)
        small = run_import(small_path, f"sqlite:///{tmp}/small.db")
        print(f"import of {small_rows:,} rows: peak RSS {small['peak_rss_mb']:.0f} MB")
        result.update(
            rows_per_s=round(rate),
            csv_rows_per_s=round(csv_per_s),
            ratio=round(rate / csv_per_s, 4),
            peak_rss_mb=round(float(full["peak_rss_mb"]), 1),  # type: ignore[arg-type]
            validate_rows_per_s=round(validate_per_s),
            validate_ratio=round(validate_per_s / csv_per_s, 4),
            small_rows=small_rows,
            small_peak_rss_mb=round(float(small["peak_rss_mb"]), 1),  # type: ignore[arg-type]
            accepted=full["accepted"],
            quarantined=full["quarantined"],
        )
        if args.postgresql:
            pg_rows = min(args.pg_rows, rows)
            pg_path = Path(tmp) / "pg.csv"
            first_rows(path, pg_path, pg_rows)
            pg = postgres_import(pg_path)
            pg_rate = pg_rows / float(pg["seconds"])  # type: ignore[arg-type]
            print(f"import of {pg_rows:,} rows into PostgreSQL: {pg_rate:,.0f} rows/s")
            result.update(postgresql_rows=pg_rows, postgresql_rows_per_s=round(pg_rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
