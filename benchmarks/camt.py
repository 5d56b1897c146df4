"""Streaming read of a generated camt.053 with 1,000,000 entries: entries/s and peak RSS of the
reading process (a child, so the generator's memory is not counted).

    .venv/bin/python benchmarks/camt.py [--quick] [--entries N] [--runs 3]

The file is written by the bank simulator's writer (``adapters.payments.iso20022.bankfiles``);
the reader is the gateway's (``adapters.payments.iso20022.read``: hardened lxml ``iterparse``,
each entry cleared once turned into a confirmation). Beside it, in the same run, the floor: a
bare lxml ``iterparse`` that only counts the entries. Medians over the runs.
Target: ≥ 50,000 entries/s, ≤ 200 MB. Last line: {"entries_per_s": …, "peak_rss_mb": …}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def generate(path: Path, entries: int) -> int:
    from adapters.payments.iso20022 import bankfiles

    day = dt.date(2026, 7, 10)

    def rows() -> object:
        for i in range(entries):
            returned = i % 50 == 49  # a return now and then, with its reason
            yield bankfiles.Entry(
                f"BK{i:012d}",
                f"AS{i:018d}",
                500_000 + (i % 7) * 100_000,
                day + dt.timedelta(days=3 if returned else 0),
                returned_reason="AC04" if returned else None,
                note="Tro cap xa hoi thang 7/2026",
            )

    with path.open("wb") as out:
        return bankfiles.write_camt(
            out, "camt.053", "STM-BENCH", "1234567890", rows(), created=dt.datetime.now(dt.UTC)
        )


def child(path: str, mode: str) -> None:
    """Runs in a fresh process: read the file, print what it took."""
    import resource

    started = time.perf_counter()
    if mode == "gateway":
        from adapters.payments.iso20022.read import read

        parsed = read(Path(path))
        outcomes: dict[str, int] = {}
        for item in parsed.items:
            outcomes[item.outcome] = outcomes.get(item.outcome, 0) + 1
        count = sum(outcomes.values())
        skipped = any("without full schema validation" in w for w in parsed.warnings)
        outcomes["xsd_validated"] = int(not skipped)
    else:
        from adapters.payments.iso20022 import xmlsafe

        count, outcomes = 0, {}
        with open(path, "rb") as fh:
            tag = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}Ntry"
            for _event, el in xmlsafe.iterparse(fh, events=("end",), tag=tag):
                count += 1
                el.clear(keep_tail=False)
                while el.getprevious() is not None:
                    del el.getparent()[0]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"entries": count, "seconds": seconds, "peak_rss_mb": peak, **outcomes}))


def measure(path: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--mode", mode],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result["entries_per_s"] = result["entries"] / result["seconds"]
    print(json.dumps({"mode": mode, **{k: round(v, 2) for k, v in result.items()}}), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="50,000 entries, one run")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--mode", default="gateway")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.mode)
        return
    entries, runs = (50_000, 1) if args.quick else (args.entries, args.runs)
    with tempfile.TemporaryDirectory(prefix="ansinh-camt-") as tmp:
        path = Path(tmp) / "camt053.xml"
        started = time.perf_counter()
        written = generate(path, entries)
        size_mb = path.stat().st_size / 2**20
        took = time.perf_counter() - started
        print(f"wrote {written} entries ({size_mb:.0f} MB) in {took:.1f} s")
        gateway, floor = [], []
        for _ in range(runs):
            floor.append(measure(path, "bare"))
            gateway.append(measure(path, "gateway"))
            assert gateway[-1]["entries"] == written, "every entry read"
    rate = statistics.median(r["entries_per_s"] for r in gateway)
    bare = statistics.median(r["entries_per_s"] for r in floor)
    rss = max(r["peak_rss_mb"] for r in gateway)
    print(
        f"gateway reader {rate:,.0f} entries/s (bare lxml iterparse {bare:,.0f}/s, "
        f"ratio {rate / bare:.2f}); peak RSS {rss:.0f} MB; medians of {runs} runs"
    )
    print(json.dumps({"entries_per_s": round(rate, 1), "peak_rss_mb": round(rss, 1)}))


if __name__ == "__main__":
    main()
