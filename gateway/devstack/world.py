"""The generated world ``make run`` works on, written once to files that every simulator reads
(population for the registry, lists for the province, accounts for the bank), so that the
simulators and the in-memory fakes describe the same people."""

from __future__ import annotations

from gateway.devstack import Stack

ORDER = 5
PEOPLE, SEED, PERIOD = 5000, 7, "2026-07"


def start(stack: Stack) -> None:
    from gateway.generate.files import write_all
    from gateway.generate.population import DEFAULT_PROVINCES

    out = stack.data_dir / "devstack-world"
    if not (out / "ground_truth.csv").exists():
        stack.say(f"generating the demo world: {PEOPLE} people, seed {SEED} → {out}")
        write_all(
            out,
            people=PEOPLE,
            seed=SEED,
            period=PERIOD,
            provinces=DEFAULT_PROVINCES,
            defect_rate=0.01,
        )
    stack.env["ANSINH_DEVSTACK_WORLD"] = str(out)
