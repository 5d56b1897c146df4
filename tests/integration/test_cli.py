"""The `ansinh` command line, run in-process against a real database."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANSINH_DATABASE_URL", db_url)
    monkeypatch.setenv("ANSINH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ANSINH_CERTS_DIR", str(tmp_path / "certs"))
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_refdata_users_tokens_and_audit(run) -> None:
    loaded = json.loads(run("refdata", "load", "--json"))
    assert loaded["skipped"] is True and loaded["programmes_added"] == 0  # template is loaded
    run(
        "users",
        "add",
        "tinh79",
        "--role",
        "province_officer",
        "--unit",
        "79",
        "--password",
        "mot-mat-khau-dai",
    )
    out = run(
        "users", "add", "xa1", "--role", "commune_officer", "--unit", "26743", "--token", "laptop"
    )
    assert "token (shown once): ansinh_" in out
    listed = {u["username"]: u for u in json.loads(run("users", "list", "--json"))}
    assert listed["tinh79"]["unit"] == "2025-07:79" and listed["xa1"]["role"] == "commune_officer"
    refused = run("users", "add", "xa2", "--role", "commune_officer", "--unit", "99999", code=1)
    assert "admin_unit" not in refused and "99999" in refused and "không phải" in refused
    chain = json.loads(run("audit", "verify", "--json"))
    assert chain["ok"] and chain["events"] == 3  # two users added, one token issued


def test_certs_init_creates_keys_once(run, tmp_path: Path) -> None:
    first = json.loads(run("certs", "init", "--json"))
    assert {"ca", "server", "client", "ansinh-dev-1", "ansinh-qr-1"} <= set(first["created"])
    assert (tmp_path / "certs" / "ca.key").stat().st_mode & 0o777 == 0o600
    again = json.loads(run("certs", "init", "--json"))
    assert again["created"] == [] and "ca" in again["kept"]
    run("certs", "rotate", "--kid", "ansinh-dev-2")
    keys = json.loads((tmp_path / "certs" / "signing" / "keys.json").read_text())
    assert {"ansinh-dev-1", "ansinh-dev-2"} <= set(keys)


def test_generate_writes_lists_and_ground_truth(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = CliRunner().invoke(
        main,
        ["generate", "--people", "3000", "--seed", "4", "--out", str(out), "--json"],
        catch_exceptions=False,
    )
    report = json.loads(result.output)
    assert report["people"] == 3000 and all(n >= 1 for n in report["defects"].values())
    with (out / "population.csv").open(encoding="utf-8") as fh:
        assert sum(1 for _ in csv.reader(fh)) == 3001
    with (out / "ground_truth.csv").open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    assert len(truth) == sum(report["defects"].values())
    first_list = sorted((out / "lists").iterdir())[0]
    header = first_list.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("Mã hồ sơ,Số định danh cá nhân,Số CMND cũ,Họ và tên")


def test_demo_reports_every_defect_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSINH_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main, ["demo", "--people", "1500", "--seed", "7", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["ok"] is True
    assert all(v["found"] == v["expected"] >= 1 for v in report["defects"].values())
