"""Regenerate the administrative-unit snapshot under gateway/refdata/data/.

Source: the MIT-licensed PyPI wheel ``vietnamadminunits`` (NSO/GSO public code lists, legacy
63-province scheme and the 2025 34-province scheme, plus its old→new conversion tables). The
package is *not* a runtime dependency: it pulls geopy/shapely and Unidecode (GPL-2.0), and its
converter can call an internet geocoder. We read its data once, here, and commit plain CSV.

    python scripts/build_refdata.py [--wheel path/to/vietnamadminunits-1.0.4-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

VERSION = "1.0.4"
OUT = Path(__file__).resolve().parent.parent / "gateway" / "refdata" / "data"


def fetch_wheel(tmp: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-d",
            str(tmp),
            f"vietnamadminunits=={VERSION}",
        ],
        check=True,
    )
    return next(tmp.glob("vietnamadminunits-*.whl"))


def write_csv(name: str, header: list[str], rows: list[list[object]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    # mtime=0 keeps the gzip bytes reproducible
    with gzip.GzipFile(OUT / name, "wb", mtime=0) as fh:
        fh.write(buf.getvalue().encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wheel", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        wheel = args.wheel or fetch_wheel(tmp)
        with zipfile.ZipFile(wheel) as zf:
            zf.extract("vietnamadminunits/data/dataset.db", tmp)
            converter = json.loads(zf.read("vietnamadminunits/data/converter_2025.json"))
            licence = zf.read(f"vietnamadminunits-{VERSION}.dist-info/licenses/LICENSE")
        db = sqlite3.connect(tmp / "vietnamadminunits/data/dataset.db")
        build(db, converter)
    (OUT / "LICENSE.vietnamadminunits").write_bytes(licence)


def build(db: sqlite3.Connection, converter: dict) -> None:
    legacy = db.execute(
        "SELECT provinceCode, province, provinceKey, districtCode, district, districtType,"
        " districtKey, wardCode, ward, wardType, wardKey FROM admin_units_legacy"
    ).fetchall()
    new = db.execute(
        "SELECT provinceCode, province, provinceKey, wardCode, ward, wardType, wardKey"
        " FROM admin_units"
    ).fetchall()

    legacy_rows: dict[tuple[str, str], list[object]] = {}
    legacy_key_to_code: dict[str, tuple[str, str]] = {}
    for pc, pname, pkey, dc, dname, dtype, dkey, wc, wname, wtype, wkey in legacy:
        legacy_rows[("province", pc)] = ["province", pc, pname, _type(pname), "", pc]
        legacy_rows[("district", dc)] = ["district", dc, dname, dtype, pc, pc]
        if wc:
            legacy_rows[("commune", wc)] = ["commune", wc, wname, wtype, dc, pc]
            legacy_key_to_code[f"{pkey}_{dkey}_{wkey}"] = ("commune", wc)
        else:  # island districts without communes became special zones
            legacy_key_to_code[f"{pkey}_{dkey}_"] = ("district", dc)
    new_rows: dict[tuple[str, str], list[object]] = {}
    new_key_to_code: dict[tuple[str, str], str] = {}
    for pc, pname, pkey, wc, wname, wtype, wkey in new:
        new_rows[("province", pc)] = ["province", pc, pname, _type(pname), "", pc]
        new_rows[("commune", wc)] = ["commune", wc, wname, wtype, pc, pc]
        new_key_to_code[(pkey, wkey)] = wc

    succession: dict[tuple[str, str, str], list[object]] = {}
    for new_pkey, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_wkey, old_keys in wards.items():
            new_code = new_key_to_code[(new_pkey, new_wkey)]
            for old_key in old_keys:
                level, old_code = legacy_key_to_code[old_key]
                succession[(level, old_code, new_code)] = [level, old_code, new_code, 0, 1]
    for new_pkey, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, targets in olds.items():
            level, old_code = legacy_key_to_code[old_key]
            for target in targets:
                new_code = new_key_to_code[(new_pkey, target["newWardKey"])]
                default = 1 if target["isDefaultNewWard"] else 0
                succession[(level, old_code, new_code)] = [level, old_code, new_code, 1, default]

    # provinces: derived from the communes' succession (partial if they went to several)
    new_prov_of = {code: row[5] for (lvl, code), row in new_rows.items() if lvl == "commune"}
    old_prov_of = {code: row[5] for (lvl, code), row in legacy_rows.items() if lvl != "province"}
    prov_targets: dict[str, set[str]] = defaultdict(set)
    for _level, old_code, new_code, *_ in succession.values():
        prov_targets[str(old_prov_of[str(old_code)])].add(str(new_prov_of[str(new_code)]))
    province_rows = [
        ["province", old, new, int(len(targets) > 1), 0]
        for old, targets in sorted(prov_targets.items())
        for new in sorted(targets)
    ]

    header = ["level", "code", "name", "unit_type", "parent_code", "province_code"]
    order = {"province": 0, "district": 1, "commune": 2}
    write_csv(
        "units_legacy63.csv.gz",
        header,
        sorted(legacy_rows.values(), key=lambda r: (order[str(r[0])], r[1])),
    )
    write_csv(
        "units_2025.csv.gz",
        header,
        sorted(new_rows.values(), key=lambda r: (order[str(r[0])], r[1])),
    )
    write_csv(
        "succession_2025.csv.gz",
        ["old_level", "old_code", "new_code", "is_partial", "is_default"],
        province_rows + sorted(succession.values(), key=lambda r: (r[1], r[2])),
    )
    counts = defaultdict(int)
    for level, *_ in legacy_rows.values():
        counts[f"legacy63.{level}"] += 1
    for level, *_ in new_rows.values():
        counts[f"2025.{level}"] += 1
    counts["succession"] = len(succession)
    counts["succession.partial_old_communes"] = len({r[1] for r in succession.values() if r[3]})
    print(json.dumps(counts, indent=1))


def _type(name: str) -> str:
    return "Thành phố" if name.startswith("Thành phố") else "Tỉnh"


if __name__ == "__main__":
    main()
