"""The generator is deterministic, consistent with the ID rules, and plants every defect."""

from __future__ import annotations

import random

from gateway.domain.personal_id import cross_check, parse_personal_id
from gateway.generate.lists import DEFECTS, build_lists, is_beneficiary
from gateway.generate.population import Geography, population


def _people(n: int, seed: int) -> list:
    return list(population(n, seed, Geography.for_provinces(("79", "01"))))


def test_same_seed_same_people_other_seed_other_people() -> None:
    a, b, c = _people(300, 5), _people(300, 5), _people(300, 6)
    assert [(p.pid, p.full_name, p.birth) for p in a] == [(p.pid, p.full_name, p.birth) for p in b]
    assert [p.pid for p in a] != [p.pid for p in c]


def test_ids_are_unique_and_match_birth_and_gender() -> None:
    people = _people(3000, 1)
    assert len({p.pid for p in people}) == len(people)
    for p in people:
        pid = parse_personal_id(p.pid).pid
        assert cross_check(pid, birth_year=p.birth.year, gender=p.gender) == []
    assert all(
        p.full_name.split()[0]
        in {f for f, _ in __import__("gateway.generate.names", fromlist=["FAMILY"]).FAMILY}
        for p in people
    )


def test_every_defect_class_is_planted_and_recorded() -> None:
    geography = Geography.for_provinces(("79", "01"))
    pick = random.Random(9)
    beneficiaries = [p for p in population(4000, 9, geography) if is_beneficiary(p, pick)]
    lists = build_lists(beneficiaries, seed=9, period="2026-07", geography=geography)
    expected = lists.expected()
    assert set(expected) == set(DEFECTS) and all(n >= 1 for n in expected.values())
    people = {t.person_idx for t in lists.truth}
    assert len(people) == len(lists.truth)  # one defect per person
    for t in lists.truth:
        assert 1 <= t.row_number <= len(lists.lists[t.list_key])
