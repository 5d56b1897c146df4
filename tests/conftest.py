"""Shared fixtures.

* The network is closed: any connection to a non-loopback address fails the test.
* ``db_url`` is parametrized over a real SQLite file and a real PostgreSQL database, so every
  database test runs on both and its id names the backend (``[sqlite]``, ``[postgresql]``).
  PostgreSQL being unreachable is a failure, never a skip.
* ``svc`` is the service layer on that database with the in-memory fakes as ports.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from adapters.payments.fake import FakeBank, FakePostOffice
from adapters.registry.fake import FakeRegistry
from adapters.welfare.fake import FakeWelfareSource
from gateway.bootstrap import build_services
from gateway.db import migrate
from gateway.db.engine import make_engine
from gateway.db.tables import metadata
from gateway.refdata import admin_units, programmes
from gateway.services.context import Services
from gateway.settings import SecuritySettings, Settings

# fixtures of the registry tests (simulator on loopback, dev PKI, seeded population)
pytest_plugins = ["tests.registry_support"]

PG_ADMIN_URL = os.environ.get("ANSINH_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
KEEP = ("admin_scheme", "admin_unit", "admin_succession")
TEST_KEYS = SecuritySettings(
    secret_key="test-secret",
    pii_key=base64.b64decode(base64.b64encode(b"k" * 32)),
    blind_index_key=b"i" * 32,
)

# -- no network beyond loopback ------------------------------------------------------------

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
        return _real_connect(self, address)
    raise RuntimeError(f"test tried to reach {host!r}: only loopback is allowed")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


# -- databases ------------------------------------------------------------------------------


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _prepare(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            admin_units.load(conn)
            programmes.seed(conn)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"ansinh_test_{os.getpid()}_{_worker()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is unreachable ({exc}); the database tests "
            "must run on PostgreSQL too. Start it: pg_ctlcluster --skip-systemctl-redirect "
            "$(ls /etc/postgresql) main start",
            pytrace=False,
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _prepare(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    tables = [t.name for t in metadata.sorted_tables if t.name not in KEEP]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            programmes.seed(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "ansinh.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _reset_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(env="test", data_dir=tmp_path, log_json=True, security=TEST_KEYS)


@pytest.fixture
def fakes() -> dict[str, Any]:
    return {
        "registry": FakeRegistry(),
        "bank": FakeBank(),
        "post": FakePostOffice(),
        "welfare": FakeWelfareSource(),
    }


@pytest.fixture
def svc(db_url: str, settings: Settings, fakes: dict[str, Any]) -> Iterator[Services]:
    services = build_services(
        settings.with_(database_url=db_url),
        registry=fakes["registry"],
        payments={"bank": fakes["bank"], "postoffice": fakes["post"]},
        welfare=fakes["welfare"],
    )
    yield services
    services.close()


@pytest.fixture
def app(svc: Services) -> Any:
    from gateway import create_app

    flask_app = create_app(svc.settings, services=svc)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def ansinh(svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``ansinh(*args, code=0)``: the command line in-process, on the test's database and keys,
    as an operator would type it; returns what it printed (exit code checked)."""
    from click.testing import CliRunner

    from gateway.cli import main

    sec = svc.settings.security
    monkeypatch.setenv("ANSINH_DATABASE_URL", svc.settings.db_url)
    monkeypatch.setenv("ANSINH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ANSINH_SECRET_KEY", sec.secret_key or "")
    monkeypatch.setenv("ANSINH_PII_KEY", base64.b64encode(sec.pii_key or b"").decode())
    monkeypatch.setenv(
        "ANSINH_BLIND_INDEX_KEY", base64.b64encode(sec.blind_index_key or b"").decode()
    )
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return invoke


# -- report: how many tests ran on PostgreSQL ------------------------------------------------

_BACKEND_COUNTS: dict[tuple[str, str], int] = {}


def pytest_runtest_logreport(report: Any) -> None:
    backend = next((b for b in ("postgresql", "sqlite") if f"[{b}" in report.nodeid), None)
    if backend is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = report.outcome
        _BACKEND_COUNTS[(backend, outcome)] = _BACKEND_COUNTS.get((backend, outcome), 0) + 1


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller sees every report and decides
    pg_passed = _BACKEND_COUNTS.get(("postgresql", "passed"), 0)
    pg_skipped = _BACKEND_COUNTS.get(("postgresql", "skipped"), 0)
    if os.environ.get("ANSINH_REQUIRE_POSTGRES") and (pg_passed == 0 or pg_skipped):
        session.config._ansinh_pg_failed = True
        if exitstatus == 0:
            session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    def count(backend: str, outcome: str) -> int:
        return _BACKEND_COUNTS.get((backend, outcome), 0)

    for backend in ("postgresql", "sqlite"):
        terminalreporter.write_line(
            f"{backend}: {count(backend, 'passed')} passed, {count(backend, 'failed')} failed, "
            f"{count(backend, 'skipped')} skipped"
        )
    if getattr(config, "_ansinh_pg_failed", False):
        terminalreporter.write_line(
            "FAIL: the database tests must run on PostgreSQL too, and none may be skipped"
        )
