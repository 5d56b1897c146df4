"""Persons and payee accounts for a chunk of accepted intake rows: found by blind index with
one lookup per chunk (current number, identifier history, CMND number) or created — keys taken
up front, then persons, identifiers and accounts inserted in bulk. An account registered to
another person holds its row back (``HOLD``)."""

from __future__ import annotations

from typing import Any

from gateway.db.tables import payee_account, person, person_identifier
from gateway.domain.names import fold
from gateway.security.vault import PiiVault, Purpose
from gateway.services.intake_bulk import Bulk
from gateway.services.units import Translation

# positions in a canonical values tuple (mappings.compiled.FIELDS order)
PID, LEGACY, NAME, BIRTH, GENDER = 1, 2, 3, 4, 5
CHANNEL, BIN, ACCOUNT = 9, 10, 11
HOLD = -1  # an account that belongs to someone else: the row is held back


class PeopleWriter:
    def __init__(self, bulk: Bulk, vault: PiiVault, import_id: int, now: Any) -> None:
        self.bulk, self.vault, self.import_id, self.now = bulk, vault, import_id, now
        self.true = bulk.bind(person_identifier.c.current, True)
        self._names: dict[str, str] = {}

    def persons(self, values: list[tuple[Any, ...]], units: list[Translation]) -> list[int]:
        """The person of each row: found by blind index (current number, identifier history,
        CMND number) or created, one per new key."""
        index, bulk = self.vault.index, self.bulk
        pids = [index(v[PID], Purpose.PID) if v[PID] else None for v in values]
        found: dict[bytes, int] = dict(
            bulk.lookup(person, ("pid_index", "id"), "pid_index", _some(pids))
        )
        missing = [p for p in _some(pids) if p not in found]
        if missing:  # a re-issued number: known through the identifier history
            found.update(
                bulk.lookup(person_identifier, _IDENTIFIER, "value_index", missing, kind="pid")
            )
        legacy = [
            index(v[LEGACY], Purpose.LEGACY_ID)
            if v[LEGACY] and (p is None or p not in found)
            else None
            for v, p in zip(values, pids, strict=True)
        ]
        if any(legacy):
            found.update(
                bulk.lookup(
                    person_identifier, _IDENTIFIER, "value_index", _some(legacy), kind="cmnd9"
                )
            )
        keys: list[bytes] = [_identity(p, lg, found) for p, lg in zip(pids, legacy, strict=True)]
        new: dict[bytes, int] = {}  # a new person's key -> the first row listing them
        for k, key in enumerate(keys):
            if key not in found:
                new.setdefault(key, k)
        if new:
            found.update(self._create_persons(values, units, new, pids, legacy))
        return [found[key] for key in keys]

    def _create_persons(
        self,
        rows_values: list[tuple[Any, ...]],
        units: list[Translation],
        new: dict[bytes, int],
        pids: list[bytes | None],
        legacy: list[bytes | None],
    ) -> dict[bytes, int]:
        """One person per new key (the first row listing them), then their identifiers."""
        made = dict(zip(new, self.bulk.ids(person, len(new)), strict=True))
        rows, numbers = [], []  # numbers: (key, kind, index, ciphertext)
        encrypt = self.vault.encrypt
        for key, k in new.items():
            values = rows_values[k]
            birth = values[BIRTH]
            pid_enc = encrypt(values[PID], Purpose.PID) if pids[k] else None
            rows.append(
                (
                    made[key],
                    pids[k],
                    pid_enc,
                    values[NAME],
                    self._name_key(values[NAME]),
                    birth.year,
                    birth.month,
                    birth.day,
                    values[GENDER],
                    "unknown",
                    units[k].unit.id,
                    self.now,
                )
            )
            if pids[k]:
                numbers.append((key, "pid", pids[k], pid_enc))
            if values[LEGACY]:
                lg = legacy[k] or self.vault.index(values[LEGACY], Purpose.LEGACY_ID)
                numbers.append((key, "cmnd9", lg, encrypt(values[LEGACY], Purpose.LEGACY_ID)))
        if self.bulk.insert(person, PERSON_COLUMNS, rows, ignore=True) < len(rows):
            made.update(self._taken_meanwhile(made))
        source = f"import:{self.import_id}"
        identifiers = [
            (made[key], kind, index, enc, self.true, source, self.now)
            for key, kind, index, enc in numbers
        ]
        self.bulk.insert(person_identifier, IDENTIFIER_COLUMNS, identifiers, ignore=True)
        return made

    def _taken_meanwhile(self, made: dict[bytes, int]) -> dict[bytes, int]:
        """PostgreSQL: a concurrent import created some of these persons first; use theirs."""
        return dict(self.bulk.lookup(person, ("pid_index", "id"), "pid_index", made))

    def _name_key(self, name: str) -> str:
        key = self._names.get(name)
        if key is None:
            if len(self._names) > 50_000:
                self._names.clear()
            key = self._names[name] = fold(name)
        return key

    def accounts(self, values: list[tuple[Any, ...]], people: list[int]) -> list[int | None]:
        """The payee account of each row paid by bank, found or created; ``HOLD`` when it is
        registered to another person."""
        index = self.vault.index
        keys = [
            (v[BIN], index(v[ACCOUNT], Purpose.ACCOUNT)) if v[CHANNEL] == "bank" else None
            for v in values
        ]
        if not any(keys):
            return [None] * len(keys)
        known = self._known_accounts([key for key in keys if key is not None])
        new: dict[tuple[str, bytes], int] = {}  # key -> first row
        for k, key in enumerate(keys):
            if key is not None and key not in known:
                known[key] = (None, people[k])
                new[key] = k
        if new:
            self._create_accounts(values, new, known)
        out: list[int | None] = []
        for key, owner in zip(keys, people, strict=True):
            if key is None:
                out.append(None)
                continue
            account_id, holder = known[key]
            out.append(account_id if holder == owner else HOLD)
        return out

    def _create_accounts(
        self,
        values: list[tuple[Any, ...]],
        new: dict[tuple[str, bytes], int],
        known: dict[tuple[str, bytes], tuple[int | None, int]],
    ) -> None:
        ids = self.bulk.ids(payee_account, len(new))
        rows = []
        for (key, k), account_id in zip(new.items(), ids, strict=True):
            owner = known[key][1]
            known[key] = (account_id, owner)
            enc = self.vault.encrypt(values[k][ACCOUNT], Purpose.ACCOUNT)
            rows.append((account_id, owner, key[0], key[1], enc, "unverified", self.now))
        if self.bulk.insert(payee_account, ACCOUNT_COLUMNS, rows, ignore=True) < len(rows):
            known.update(self._known_accounts(list(new)))  # a concurrent import was first

    def _known_accounts(
        self, keys: list[tuple[str, bytes]]
    ) -> dict[tuple[str, bytes], tuple[int | None, int]]:
        """(bin, number index) → (account, holder), bank by bank (the unique index's order)."""
        by_bin: dict[str, list[bytes]] = {}
        for bin_code, number in keys:
            by_bin.setdefault(bin_code, []).append(number)
        known: dict[tuple[str, bytes], tuple[int | None, int]] = {}
        for bin_code, numbers in by_bin.items():
            for r in self.bulk.lookup(
                payee_account, _ACCOUNT, "number_index", numbers, bin=bin_code
            ):
                known[(bin_code, r[0])] = (int(r[1]), int(r[2]))
        return known


def _identity(pid: bytes | None, legacy: bytes | None, found: dict[bytes, int]) -> bytes:
    """Who a row is: a known personal ID, else a known CMND, else the ID (a new person)."""
    if pid is not None and pid in found:
        return pid
    if legacy is not None and (legacy in found or pid is None):
        return legacy
    assert pid is not None  # validation: a row has a personal ID or a CMND number
    return pid


def _some(values: list[Any]) -> list[Any]:
    return [v for v in values if v is not None]


_IDENTIFIER = ("value_index", "person_id")
_ACCOUNT = ("number_index", "id", "person_id")
PERSON_COLUMNS = (
    "id",
    "pid_index",
    "pid_enc",
    "full_name",
    "name_key",
    "birth_year",
    "birth_month",
    "birth_day",
    "gender",
    "vital_status",
    "residence_unit_id",
    "created_at",
)
IDENTIFIER_COLUMNS = (
    "person_id",
    "kind",
    "value_index",
    "value_enc",
    "current",
    "source",
    "created_at",
)
ACCOUNT_COLUMNS = ("id", "person_id", "bin", "number_index", "number_enc", "status", "created_at")
