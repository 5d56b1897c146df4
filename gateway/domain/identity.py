"""Identity matching: does a listed person agree with the registry's record, field by field?

* name — ``names.compare``: exact (after NFC, case folding, whitespace), diacritics-only
  (``NGUYEN THI HUONG`` vs ``Nguyễn Thị Hương``, Đ/đ folded), or token order; only the first two
  are the same person's name.
* birth date — equal where both are known; a year-only date matches any date in that year.
* gender — equal.
* ID digits — the claimed birth year and gender are cross-checked with digits 4–6 of the
  personal ID (DOMAIN.md §1); a contradiction is a data-entry signal, reported as a mismatch.

Each field is ``match``, ``mismatch`` or ``missing`` (not supplied, or the registry holds none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.domain.dates import BirthDate
from gateway.domain.names import NameMatch, compare, is_acceptable

MATCH, MISMATCH, MISSING = "match", "mismatch", "missing"


@dataclass(frozen=True)
class Claim:
    """What a provincial list says about a person."""

    pid: str
    full_name: str | None
    birth: BirthDate | None
    gender: str | None


@dataclass(frozen=True)
class Record:
    """What the registry holds."""

    full_name: str
    birth: BirthDate | None
    gender: str | None


class ClaimLike(Protocol):
    """Anything carrying a claim's fields (``Claim``, the registry port's ``VerifyRequest``)."""

    @property
    def pid(self) -> str: ...
    @property
    def full_name(self) -> str | None: ...
    @property
    def birth(self) -> BirthDate | None: ...
    @property
    def gender(self) -> str | None: ...


class RecordLike(Protocol):
    """Anything carrying a record's fields (``Record``, the port's ``RegistryPerson``)."""

    @property
    def full_name(self) -> str: ...
    @property
    def birth(self) -> BirthDate | None: ...
    @property
    def gender(self) -> str | None: ...


@dataclass(frozen=True)
class IdentityMatch:
    fields: dict[str, str]
    name_match: NameMatch | None

    @property
    def mismatched(self) -> list[str]:
        return sorted(k for k, v in self.fields.items() if v == MISMATCH)


def match_identity(claim: ClaimLike, record: RecordLike) -> IdentityMatch:
    fields: dict[str, str] = {}
    name_match = None
    if claim.full_name is None:
        fields["name"] = MISSING
    else:
        name_match = compare(claim.full_name, record.full_name)
        fields["name"] = MATCH if is_acceptable(name_match) else MISMATCH
    if claim.birth is None or record.birth is None:
        fields["birth_date"] = MISSING
    else:
        fields["birth_date"] = MATCH if claim.birth.matches(record.birth) else MISMATCH
    if claim.gender is None or record.gender is None:
        fields["gender"] = MISSING
    else:
        fields["gender"] = MATCH if claim.gender == record.gender else MISMATCH
    fields["id_digits"] = id_digits(claim)
    return IdentityMatch(fields, name_match)


def id_digits(claim: ClaimLike) -> str:
    """Do the claimed birth year and gender agree with what the ID's digits encode?"""
    pid = claim.pid
    if len(pid) != 12 or not pid.isdigit() or (claim.birth is None and claim.gender is None):
        return MISSING
    d4 = int(pid[3])
    year = 1900 + 100 * (d4 // 2) + int(pid[4:6])
    gender = "M" if d4 % 2 == 0 else "F"
    if claim.birth is not None and claim.birth.year != year:
        return MISMATCH
    if claim.gender is not None and claim.gender != gender:
        return MISMATCH
    return MATCH
