"""``ansinh simulate registry`` as a process on a generated world, and ``ansinh registry check``
against it — the commands ``make run`` and an operator use."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from adapters.registry.simulator.store import Store
from gateway.generate.files import write_all


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_all(out, people=400, seed=3, period="2026-07", provinces=("79",), defect_rate=0.05)
    return out


@pytest.fixture
def simulator(world: Path, tmp_path: Path) -> Iterator[str]:
    port = _port()
    env = {**os.environ, "ANSINH_DATA_DIR": str(tmp_path), "ANSINH_LOG_LEVEL": "WARNING"}
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "simulate",
        "registry",
        "--port",
        str(port),
        "--world",
        str(world),
        "--db",
        str(tmp_path / "sim.db"),
        "--switch",
        "latency_ms=1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()


def test_the_simulator_serves_the_generated_world(
    simulator: str, world: Path, tmp_path: Path
) -> None:
    assert requests.get(f"{simulator}/health", timeout=5).json() == {"status": "ok", "people": 400}
    wsdl = requests.get(f"{simulator}/soap?wsdl", timeout=5)
    assert f'location="{simulator}/soap"' in wsdl.text
    switches = requests.get(f"{simulator}/_admin/switches", timeout=5).json()
    assert switches["latency_ms"] == 1
    with (world / "registry_ticks.csv").open() as fh:
        ticks = list(csv.DictReader(fh))
    assert ticks
    store = Store(tmp_path / "sim.db")  # the simulator's own file: the ticks were loaded
    ticked = store.enrolled(ticks[0]["personal_id"])
    assert ("ticked", ticks[0]["programme"]) in {(e.status, e.programme) for e in ticked}


def test_registry_check_loads_the_wsdl_and_checks_the_mapping(
    simulator: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ANSINH_DATA_DIR": str(tmp_path),
        "ANSINH_ENV": "test",
        "ANSINH_REGISTRY_BACKEND": "soap",
        "ANSINH_REGISTRY_URL": f"{simulator}/soap",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "registry", "check", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["registry"] == "ansinh-sim"
    assert result["max_batch"] == 500
    assert "verify_batch" in result["operations"]


def test_a_wrong_switch_is_refused_by_name(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "simulate", "registry", "--switch", "colour=1"],
        env={**os.environ, "ANSINH_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown switches: colour" in done.stderr


def test_the_simulator_can_be_told_to_emit_events(simulator: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "simulate",
            "registry-emit",
            "--url",
            simulator,
            "--kind",
            "death",
            "--count",
            "2",
            "--json",
        ],
        env={**os.environ, "ANSINH_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip())["emitted"] == 2
    events = Store(tmp_path / "sim.db").events(0, 10)
    assert [e.kind for e in events] == ["death", "death"]
