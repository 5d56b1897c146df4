"""Shared set-up for the registry tests: one seeded population, a simulator on an ephemeral
loopback port, and the three implementations of the port built against it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters import signing
from adapters.http import Resilience, TlsFiles, build_session
from adapters.registry import mapping
from adapters.registry.fake import FakeRegistry
from adapters.registry.oauth import TokenSource
from adapters.registry.port import ChangeEvent, Enrolment, RegistryPerson, Residence
from adapters.registry.rest import RestRegistry
from adapters.registry.simulator import Running, SimulatorConfig, start
from adapters.registry.simulator.app import DEFAULT_WSDL, RegistrySimulator
from adapters.registry.simulator.faults import Switches
from adapters.registry.simulator.store import Store
from adapters.registry.soap import SoapRegistry
from adapters.registry.soap_headers import AnswerSignature, TimestampedSignature, XRoadIdentity
from adapters.registry.wire import Wire
from adapters.registry.wsdl_loading import CatalogTransport
from gateway.domain.dates import BirthDate
from gateway.settings import HttpSettings

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
FIXTURES = Path(__file__).with_name("fixtures") / "registry"

# Fast, deterministic HTTP policy for tests: no retries unless a test asks, short timeouts.
FAST_HTTP = HttpSettings(
    connect_timeout=1.0,
    read_timeout=3.0,
    max_retries=0,
    backoff_base=0.0,
    backoff_max=0.0,
    max_concurrency=8,
    breaker_failures=1000,
    breaker_reset_seconds=30.0,
    max_response_bytes=2 * 1024 * 1024,
)

AN = RegistryPerson(
    "079050000101",
    "Nguyễn Văn An",
    BirthDate(1950, 3, 4),
    "M",
    "alive",
    residence=Residence("2025-07", "26734"),
    legacy_ids=("123456789",),
)
BINH = RegistryPerson("001151000202", "Lê Thị Bình", BirthDate(1951), "F", "alive")
CUONG = RegistryPerson(
    "048040000303",
    "Trần Đức Cường",
    BirthDate(1940, 12, 1),
    "M",
    "deceased",
    death_date=dt.date(2026, 5, 2),
)
DAO = RegistryPerson("031162000404", "Phạm Thị Đào", BirthDate(1962, 7, 7), "F", "alive")
EM = RegistryPerson("001065000505", "Hoàng Văn Em", BirthDate(1965, 1, 1), "M", "alive")
SEED = (AN, BINH, CUONG, DAO, EM)
ENROLMENT = Enrolment("ND176-HTXH", "2025-07:00004", "2026-07", "enrolled", "tcxh-hang-thang")
UNKNOWN_PID = "079099999999"


def seed_store(store: Store) -> Store:
    store.add_people(SEED)
    store.add_enrolment(DAO.pid, ENROLMENT)
    return store


def seeded_fake() -> FakeRegistry:
    fake = FakeRegistry(SEED)
    fake.add_enrolment(DAO.pid, ENROLMENT)
    return fake


def make_simulator(
    tmp: Path,
    certs: Path | None,
    *,
    mapping_name: str = "registry/default.toml",
    wsdl: Path = DEFAULT_WSDL,
    switches: Switches | None = None,
) -> RegistrySimulator:
    store = seed_store(Store(tmp / "registry-sim.db"))
    return RegistrySimulator(
        SimulatorConfig(
            store=store,
            mapping=mapping.load(mapping_name),
            wsdl=wsdl,
            certs_dir=certs,
            switches=switches,
        )
    )


@contextmanager
def running(app: RegistrySimulator, **kwargs: Any) -> Iterator[Running]:
    sim = start(app, **kwargs)
    try:
        yield sim
    finally:
        sim.stop()


_SESSIONS: list[requests.Session] = []
_WIRES: list[Wire] = []


def _session(http: HttpSettings, tls: TlsFiles | None = None) -> requests.Session:
    session = build_session(http, tls)
    _SESSIONS.append(session)
    return session


@pytest.fixture(autouse=True)
def close_registry_sessions() -> Iterator[None]:
    """Every session a helper built is closed after the test (no leaked sockets)."""
    yield
    while _SESSIONS:
        _SESSIONS.pop().close()
    while _WIRES:
        _WIRES.pop().close()


def soap_registry(
    sim: Running,
    *,
    http: HttpSettings = FAST_HTTP,
    mapping_name: str = "registry/default.toml",
    xroad: XRoadIdentity | None = None,
    wsse: TimestampedSignature | None = None,
    answer_signature: AnswerSignature | None = None,
    tls: TlsFiles | None = None,
    resilience: Resilience | None = None,
) -> SoapRegistry:
    session = _session(http, tls)
    wire = Wire(http, "registry", tls=tls)
    _WIRES.append(wire)
    return SoapRegistry(
        mapping.load(mapping_name),
        wsdl=sim.wsdl_url,
        http=http,
        transport=CatalogTransport(session, timeout=(http.connect_timeout, http.read_timeout)),
        wire=wire,
        xroad=xroad,
        wsse=wsse,
        answer_signature=answer_signature,
        resilience=resilience or Resilience(http, "registry", sleep=lambda _s: None),
    )


def rest_registry(
    sim: Running,
    certs: Path,
    *,
    http: HttpSettings = FAST_HTTP,
    async_search: bool = False,
    client_secret: str = "dev-secret",  # noqa: S107 - the simulator's test client
) -> RestRegistry:
    session = _session(http)
    tokens = TokenSource(
        session,
        http,
        token_url=f"{sim.url}/oauth2/client/token",
        client_id="ansinh-gateway",
        client_secret=client_secret,
    )
    return RestRegistry(
        sim.url,
        http=http,
        session=session,
        tokens=tokens,
        signing_key=signing.load_signing_key(certs, "ansinh-dev-1"),
        key_id="ansinh-dev-1",
        sender_id="ansinh-gateway",
        registry_keys=signing.KeyStore.from_keys_json(certs / "signing" / "keys.json"),
        resilience=Resilience(http, "registry", sleep=lambda _s: None),
        async_search=async_search,
    )


@dataclass
class Seeded:
    """One implementation of the port, and how to make the registry emit events."""

    kind: str
    registry: Any
    app: RegistrySimulator | None = None
    sim: Running | None = None

    def emit(self, kind: str, pid: str, **extra: Any) -> None:
        if self.app is not None:
            self.app.emit({"kind": kind, "pid": pid, **extra})
            return
        fake: FakeRegistry = self.registry
        residence = Residence("2025-07", extra["commune"]) if "commune" in extra else None
        death = dt.date.fromisoformat(extra["death_date"]) if "death_date" in extra else None
        fake.emit(ChangeEvent("", kind, pid, extra.get("new_pid"), death, residence))

    def switches(self, **changes: Any) -> None:
        assert self.sim is not None
        requests.put(f"{self.sim.url}/_admin/switches", json=changes, timeout=5).raise_for_status()

    def script(self, *steps: str) -> None:
        assert self.sim is not None
        requests.put(
            f"{self.sim.url}/_admin/script", json=list(steps), timeout=5
        ).raise_for_status()


# -- fixtures (import them into a test module to use them) -------------------------------------


@pytest.fixture(scope="session")
def registry_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway dev PKI: TLS CA/server/client and the Ed25519 signing keys."""
    from certs import pki

    directory = tmp_path_factory.mktemp("registry-pki")
    pki.init(directory)
    return directory


@pytest.fixture
def sim_app(tmp_path: Path, registry_certs: Path) -> RegistrySimulator:
    return make_simulator(tmp_path, registry_certs)


@pytest.fixture
def sim(sim_app: RegistrySimulator) -> Iterator[Running]:
    with running(sim_app) as server:
        yield server
