"""`ansinh generate --people 1000000`: seconds and peak RSS of the generator process.

    .venv/bin/python benchmarks/generate.py [--quick] [--people N]

Last line: {"people": …, "seconds": …, "peak_rss_mb": …, "target_seconds": 60}
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 people")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    people = 100_000 if args.quick else args.people
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "generate",
                "--people",
                str(people),
                "--seed",
                str(args.seed),
                "--out",
                out,
                "--json",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"generated {people} people in {seconds:.1f} s, {size_mb:.0f} MB of files")
    print(
        json.dumps(
            {
                "people": people,
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "target_seconds": 60,
            }
        )
    )


if __name__ == "__main__":
    main()
