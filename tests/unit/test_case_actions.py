"""Which action fits which mismatch case, and which resolved findings stay resolved."""

from __future__ import annotations

from gateway.domain.case_actions import APPLICABLE, CaseAction, applicable, stays_resolved
from gateway.domain.states import MismatchType


def test_every_case_type_can_at_least_be_marked_a_false_positive() -> None:
    assert set(APPLICABLE) == set(MismatchType)
    assert all(CaseAction.FALSE_POSITIVE in allowed for allowed in APPLICABLE.values())


def test_actions_follow_what_the_case_is_about() -> None:
    assert applicable("unknown_reference") == ("false_positive",)  # nothing to pay or cancel
    assert "reissue_payment" not in applicable("unknown_outcome_overdue")  # queried, not re-sent
    assert "confirm_paid" in applicable("unknown_outcome_overdue")
    assert applicable("returned_payment")[0] == "reissue_payment"  # the order officers see
    assert "merge_persons" in applicable("duplicate_payment")
    assert applicable("no_such_type") == ()


def test_false_positives_and_resolved_facts_stay_resolved_other_resolutions_do_not() -> None:
    assert stays_resolved("approved_unpaid", "e:1", "false_positive")
    assert not stays_resolved("approved_unpaid", "e:1", "reissue_payment")  # cause removed
    assert stays_resolved("amount_mismatch", "i:7", "confirm_paid")  # a stored report
    assert stays_resolved("identity_mismatch", "c:9", "cancel_entitlement")
    assert not stays_resolved("identity_mismatch", "e:9", "cancel_entitlement")
    assert not stays_resolved("amount_mismatch", "i:7", "auto_closed")  # closed by a run
    assert not stays_resolved("deceased", "e:3", None)
