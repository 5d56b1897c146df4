"""The simulator's population, ticks, enrolments and change feed, in SQLite.

Millions of persons fit: nothing is held in Python dicts; every answer is one indexed query.
One connection per server thread (WAL), so concurrent requests read in parallel.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.registry.port import Enrolment, RegistryPerson, Residence, TickRecord
from gateway.domain.dates import BirthDate

SCHEMA = """
CREATE TABLE IF NOT EXISTS person (
    pid TEXT PRIMARY KEY, full_name TEXT NOT NULL, birth TEXT, gender TEXT,
    vital TEXT NOT NULL, death_date TEXT, res_scheme TEXT, res_code TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS legacy (legacy_id TEXT PRIMARY KEY, pid TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_legacy_pid ON legacy (pid);
CREATE TABLE IF NOT EXISTS alias (old_pid TEXT PRIMARY KEY, pid TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tick (
    pid TEXT NOT NULL, exclusion_group TEXT NOT NULL, period TEXT NOT NULL,
    locality TEXT NOT NULL, programme TEXT NOT NULL, payment_ref TEXT NOT NULL,
    PRIMARY KEY (pid, exclusion_group, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS enrolment (
    pid TEXT NOT NULL, programme TEXT NOT NULL, locality TEXT NOT NULL, period TEXT,
    status TEXT NOT NULL, exclusion_group TEXT
);
CREATE INDEX IF NOT EXISTS ix_enrolment_pid ON enrolment (pid);
CREATE TABLE IF NOT EXISTS event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, pid TEXT NOT NULL,
    new_pid TEXT, death_date TEXT, res_scheme TEXT, res_code TEXT, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription (
    id INTEGER PRIMARY KEY AUTOINCREMENT, callback TEXT NOT NULL, events TEXT NOT NULL,
    subscriber TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
PERSON_COLUMNS = "pid, full_name, birth, gender, vital, death_date, res_scheme, res_code"
CHUNK = 10_000


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str  # death | reissue | move
    pid: str
    new_pid: str | None
    death_date: dt.date | None
    residence: Residence | None


def _person_row(p: RegistryPerson) -> tuple[object, ...]:
    return (
        p.pid,
        p.full_name,
        p.birth.iso() if p.birth else None,
        p.gender,
        p.vital_status,
        p.death_date.isoformat() if p.death_date else None,
        p.residence.scheme if p.residence else None,
        p.residence.commune_code if p.residence else None,
    )


def _birth(text: str | None) -> BirthDate | None:
    if not text:
        return None
    if len(text) == 4:
        return BirthDate(int(text))
    year, month, day = (int(p) for p in text.split("-"))
    return BirthDate(year, month, day)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._write_lock:
            self.conn().executescript(SCHEMA)

    # -- connections ----------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _tx(self) -> _Tx:
        return _Tx(self.conn(), self._write_lock)

    # -- loading --------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_people(self, people: Iterable[RegistryPerson]) -> int:
        count = 0
        batch: list[RegistryPerson] = []
        for person in people:
            batch.append(person)
            if len(batch) >= CHUNK:
                count += self._insert(batch)
                batch = []
        return count + (self._insert(batch) if batch else 0)

    def _insert(self, batch: Sequence[RegistryPerson]) -> int:
        with self._tx() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO person ({PERSON_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)",  # noqa: S608
                [_person_row(p) for p in batch],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO legacy VALUES (?, ?)",
                [(legacy, p.pid) for p in batch for legacy in p.legacy_ids],
            )
        return len(batch)

    def add_person(self, person: RegistryPerson) -> None:
        self._insert([person])

    def add_enrolment(self, pid: str, e: Enrolment) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO enrolment VALUES (?, ?, ?, ?, ?, ?)",
                (pid, e.programme, e.locality, e.period, e.status, e.exclusion_group),
            )

    def load_world(self, directory: Path) -> int:
        """``population.csv`` and ``registry_ticks.csv`` as ``ansinh generate`` writes them."""
        count = self.add_people(_world_people(directory / "population.csv"))
        ticks = directory / "registry_ticks.csv"
        if ticks.exists():
            with ticks.open(encoding="utf-8") as fh, self._tx() as conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO tick VALUES (?, ?, ?, ?, ?, '')",
                    [
                        (
                            r["personal_id"],
                            r["exclusion_group"],
                            r["period"],
                            r["locality"],
                            r["programme"],
                        )
                        for r in csv.DictReader(fh)
                    ],
                )
        return count

    def count(self) -> int:
        return int(self.conn().execute("SELECT count(*) FROM person").fetchone()[0])

    # -- reads ------------------------------------------------------------------------------
    def people(self, pids: Sequence[str]) -> dict[str, RegistryPerson]:
        """Current records for the given IDs; a re-issued (old) ID finds the person's record."""
        if not pids:
            return {}
        conn = self.conn()
        found: dict[str, RegistryPerson] = {}
        for start in range(0, len(pids), 900):
            chunk = list(pids[start : start + 900])
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT {PERSON_COLUMNS} FROM person WHERE pid IN ({marks})",  # noqa: S608
                chunk,
            ).fetchall()
            legacy: dict[str, list[str]] = {}
            for legacy_id, pid in conn.execute(
                f"SELECT legacy_id, pid FROM legacy WHERE pid IN ({marks})",  # noqa: S608
                chunk,
            ):
                legacy.setdefault(pid, []).append(legacy_id)
            for row in rows:
                found[row[0]] = _record(row, tuple(legacy.get(row[0], ())))
        missing = [p for p in pids if p not in found]
        if missing:
            for old, new in self._aliases(conn, missing):
                current = self.people([new]).get(new)
                if current is not None:
                    found[old] = current
        return found

    def _aliases(self, conn: sqlite3.Connection, pids: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for start in range(0, len(pids), 900):
            chunk = list(pids[start : start + 900])
            marks = ",".join("?" * len(chunk))  # placeholders only; values are bound
            query = f"SELECT old_pid, pid FROM alias WHERE old_pid IN ({marks})"  # noqa: S608
            found += conn.execute(query, chunk).fetchall()
        return found

    def person(self, pid: str) -> RegistryPerson | None:
        return self.people([pid]).get(pid)

    def resolve_legacy(self, legacy_id: str) -> str | None:
        row = (
            self.conn()
            .execute("SELECT pid FROM legacy WHERE legacy_id = ?", (legacy_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def enrolled(self, pid: str) -> list[Enrolment]:
        conn = self.conn()
        found = [
            Enrolment(r[0], r[1], r[2], r[3], r[4])
            for r in conn.execute(
                "SELECT programme, locality, period, status, exclusion_group FROM enrolment "
                "WHERE pid = ?",
                (pid,),
            )
        ]
        found += [
            Enrolment(r[0], r[1], r[2], "ticked", r[3])
            for r in conn.execute(
                "SELECT programme, locality, period, exclusion_group FROM tick WHERE pid = ?",
                (pid,),
            )
        ]
        return found

    def ticks(self) -> list[TickRecord]:
        return [
            TickRecord(*r)
            for r in self.conn().execute(
                "SELECT pid, exclusion_group, period, locality, programme, payment_ref FROM tick"
            )
        ]

    # -- writes -----------------------------------------------------------------------------
    def publish_tick(self, t: TickRecord) -> bool:
        """True when recorded, False when the (pid, group, period) slot was already ticked."""
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO tick VALUES (?, ?, ?, ?, ?, ?)",
                (t.pid, t.exclusion_group, t.period, t.locality, t.programme, t.payment_ref),
            )
            return cur.rowcount == 1

    def withdraw_tick(self, t: TickRecord) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM tick WHERE pid = ? AND exclusion_group = ? AND period = ?",
                (t.pid, t.exclusion_group, t.period),
            )
            return cur.rowcount == 1

    # -- change feed --------------------------------------------------------------------------
    def events(self, after: int, limit: int) -> list[Event]:
        return [
            Event(
                int(r[0]),
                str(r[1]),
                str(r[2]),
                r[3],
                dt.date.fromisoformat(r[4]) if r[4] else None,
                Residence(r[5], r[6]) if r[6] else None,
            )
            for r in self.conn().execute(
                "SELECT seq, kind, pid, new_pid, death_date, res_scheme, res_code FROM event "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
        ]

    def record_death(self, pid: str, death_date: dt.date) -> Event:
        with self._tx() as conn:
            conn.execute(
                "UPDATE person SET vital = 'deceased', death_date = ? WHERE pid = ?",
                (death_date.isoformat(), pid),
            )
            return self._event(conn, "death", pid, death_date=death_date)

    def record_reissue(self, pid: str, new_pid: str) -> Event:
        with self._tx() as conn:
            conn.execute("UPDATE person SET pid = ? WHERE pid = ?", (new_pid, pid))
            conn.execute("UPDATE legacy SET pid = ? WHERE pid = ?", (new_pid, pid))
            conn.execute("INSERT OR REPLACE INTO alias VALUES (?, ?)", (pid, new_pid))
            return self._event(conn, "reissue", pid, new_pid=new_pid)

    def record_move(self, pid: str, residence: Residence) -> Event:
        with self._tx() as conn:
            conn.execute(
                "UPDATE person SET res_scheme = ?, res_code = ? WHERE pid = ?",
                (residence.scheme, residence.commune_code, pid),
            )
            return self._event(conn, "move", pid, residence=residence)

    def _event(
        self,
        conn: sqlite3.Connection,
        kind: str,
        pid: str,
        *,
        new_pid: str | None = None,
        death_date: dt.date | None = None,
        residence: Residence | None = None,
    ) -> Event:
        cur = conn.execute(
            "INSERT INTO event (kind, pid, new_pid, death_date, res_scheme, res_code, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                pid,
                new_pid,
                death_date.isoformat() if death_date else None,
                residence.scheme if residence else None,
                residence.commune_code if residence else None,
                dt.datetime.now(dt.UTC).isoformat(),
            ),
        )
        return Event(int(cur.lastrowid or 0), kind, pid, new_pid, death_date, residence)

    def sample_alive(self, count: int, offset: int = 0) -> list[str]:
        return [
            str(r[0])
            for r in self.conn().execute(
                "SELECT pid FROM person WHERE vital = 'alive' ORDER BY pid LIMIT ? OFFSET ?",
                (count, offset),
            )
        ]

    # -- subscriptions --------------------------------------------------------------------------
    def subscribe(self, callback: str, events: str, subscriber: str) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO subscription (callback, events, subscriber, created) "
                "VALUES (?, ?, ?, ?)",
                (callback, events, subscriber, dt.datetime.now(dt.UTC).isoformat()),
            )
            return int(cur.lastrowid or 0)

    def unsubscribe(self, subscription_id: int) -> bool:
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM subscription WHERE id = ?", (subscription_id,))
            return cur.rowcount == 1

    def subscribers(self, event: str) -> list[tuple[int, str]]:
        return [
            (int(r[0]), str(r[1]))
            for r in self.conn().execute(
                "SELECT id, callback FROM subscription WHERE events = ? OR events = '*'",
                (event,),
            )
        ]


def _record(row: Sequence[Any], legacy: tuple[str, ...]) -> RegistryPerson:
    return RegistryPerson(
        pid=str(row[0]),
        full_name=str(row[1]),
        birth=_birth(row[2]),
        gender=row[3],
        vital_status=str(row[4]),
        death_date=dt.date.fromisoformat(row[5]) if row[5] else None,
        residence=Residence(str(row[6]), str(row[7])) if row[7] else None,
        legacy_ids=legacy,
    )


class _Tx:
    """BEGIN IMMEDIATE … COMMIT on this thread's connection, one writer at a time."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self.conn, self.lock = conn, lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.lock.release()


def _world_people(path: Path) -> Iterator[RegistryPerson]:
    with path.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            birth = r["birth_date"]
            yield RegistryPerson(
                pid=r["personal_id"],
                full_name=r["full_name"],
                birth=_birth(birth),
                gender=r["gender"] or None,
                vital_status=r["vital_status"],
                death_date=dt.date.fromisoformat(r["death_date"]) if r["death_date"] else None,
                residence=Residence("2025-07", r["commune_code_2025"])
                if r["commune_code_2025"]
                else None,
                legacy_ids=(r["legacy_id"],) if r["legacy_id"] else (),
            )


def generated_people(
    people: int, seed: int, provinces: tuple[str, ...] | None = None
) -> Iterator[RegistryPerson]:
    """The same synthetic population ``ansinh generate`` writes, streamed."""
    from gateway.generate.population import DEFAULT_PROVINCES, Geography, population

    geography = Geography.for_provinces(provinces or DEFAULT_PROVINCES)
    for p in population(people, seed, geography):
        yield RegistryPerson(
            pid=p.pid,
            full_name=p.full_name,
            birth=BirthDate(p.birth.year) if p.year_only else BirthDate.of(p.birth),
            gender=p.gender,
            vital_status=p.vital,
            death_date=p.death_date,
            residence=Residence("2025-07", p.commune),
            legacy_ids=(p.legacy_id,) if p.legacy_id else (),
        )
