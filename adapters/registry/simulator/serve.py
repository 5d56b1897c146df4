"""Starting the simulator as a process: fill the SQLite population once, then serve it with
werkzeug's threaded server, or with several gunicorn ``sync`` workers for load tests."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.registry import mapping as mapping_module
from adapters.registry.simulator.app import DEFAULT_WSDL, RegistrySimulator, SimulatorConfig
from adapters.registry.simulator.faults import Switches
from adapters.registry.simulator.store import Store, generated_people

log = logging.getLogger("ansinh.registry.simulator")


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8101
    people: int = 10_000
    seed: int = 7
    world: Path | None = None
    db: Path | None = None
    data_dir: Path = Path("var")
    mapping: str = "registry/default.toml"
    wsdl: Path = DEFAULT_WSDL
    certs_dir: Path | None = None
    workers: int = 1
    threads: int = 8
    server: str = "gunicorn"  # gunicorn (gthread, keep-alive) | werkzeug (threaded, no keep-alive)
    switches: Switches = field(default_factory=Switches)


def population_key(options: ServeOptions) -> str:
    if options.world is not None:
        pop = options.world / "population.csv"
        digest = hashlib.sha256(pop.read_bytes()).hexdigest()[:16] if pop.exists() else "missing"
        return f"world:{digest}"
    return f"generated:{options.people}:{options.seed}"


def open_store(options: ServeOptions) -> Store:
    """The population store, filled once per (source, size, seed) and reused afterwards."""
    key = population_key(options)
    path = (
        options.db
        or options.data_dir / f"registry-sim-{hashlib.sha256(key.encode()).hexdigest()[:12]}.db"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    if store.meta("population") != key:
        if options.world is not None:
            count = store.load_world(options.world)
        else:
            count = store.add_people(generated_people(options.people, options.seed))
        store.set_meta("population", key)
        log.info("registry simulator population loaded", extra={"people": count})
    return store


def build_app(options: ServeOptions, store: Store) -> RegistrySimulator:
    return RegistrySimulator(
        SimulatorConfig(
            store=store,
            mapping=mapping_module.load(options.mapping),
            wsdl=options.wsdl,
            certs_dir=options.certs_dir,
            switches=options.switches,
            seed=options.people,
        )
    )


def serve(options: ServeOptions) -> None:
    store = open_store(options)
    if options.server == "werkzeug":
        from werkzeug.serving import run_simple

        run_simple(options.host, options.port, build_app(options, store), threaded=True)
        return
    store.close()  # each worker opens its own connections after the fork
    _Gunicorn(options).run()


class _Gunicorn:
    """gunicorn ``gthread`` workers: a thread pool and keep-alive connections, as a registry's
    front end would have (werkzeug's development server opens a thread and a TCP connection for
    every request)."""

    def __init__(self, options: ServeOptions) -> None:
        from gunicorn.app.base import BaseApplication

        outer = self

        class App(BaseApplication):
            def load_config(self) -> None:
                self.cfg.set("bind", f"{options.host}:{options.port}")
                self.cfg.set("workers", options.workers)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", options.threads)
                self.cfg.set("keepalive", 30)
                self.cfg.set("timeout", 120)
                self.cfg.set("accesslog", None)

            def load(self) -> Any:
                return outer.app()

        self.options = options
        self.runner = App()

    def app(self) -> RegistrySimulator:
        return build_app(self.options, open_store(self.options))

    def run(self) -> None:
        self.runner.run()
