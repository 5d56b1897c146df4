"""Registry mapping files: the shipped ones load; a wrong one is refused naming file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from adapters.registry import mapping
from adapters.registry.mapping import MappingError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "registry" / "lgsp_dancu.toml"


def _default() -> dict[str, Any]:
    return tomllib.loads(mapping.resolve("registry/default.toml").read_text())


def test_the_default_and_the_second_mapping_load() -> None:
    default = mapping.load("registry/default.toml")
    assert set(default.operations) == {
        "lookup",
        "verify_batch",
        "resolve_legacy",
        "publish_tick",
        "withdraw_tick",
        "enrolled",
        "changes",
    }
    verify = default.operations["verify_batch"]
    assert verify.request.element == "{urn:vn:ansinh:registry:sim:v1}verifyPersons"
    assert verify.request.item.element_path == "{urn:vn:ansinh:registry:sim:v1}item"
    second = mapping.load(str(FIXTURE))
    assert second.namespace == ""
    assert (
        second.operations["lookup"].request.element
        == "{http://lgsp.tinh.gov.vn/dancu/v2}TraCuuCongDan"
    )
    assert second.record["residence_scheme"].attribute == "HeMa"
    assert (second.to_ours("gender", "2"), second.to_theirs("gender", "M")) == ("F", "1")
    assert second.to_ours("status", "01") == "not_found"


def _broken(change: Any) -> str:
    raw = _default()
    change(raw)
    with pytest.raises(MappingError) as caught:
        mapping.parse(raw, source="broken.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda r: r["operations"].pop("lookup"), "operations.lookup is required"),
        (lambda r: r["operations"].update(pay={"operation": "x"}), "operations.pay is not one of"),
        (
            lambda r: r["operations"]["lookup"]["request"].update(nickname="x"),
            "operations.lookup.request.nickname is not a field here",
        ),
        (
            lambda r: r["operations"]["lookup"]["response"].pop("record"),
            "operations.lookup.response.record is required",
        ),
        (lambda r: r["record"].update(pid="zz:personalId"), "uses prefix 'zz'"),
        (lambda r: r["record"].update(pid="a//@"), "names an empty attribute"),
        (lambda r: r["codes"].update(colour={"A": "B"}), "codes.colour is not one of"),
        (lambda r: r["formats"].update(birth_date="mdy"), "formats.birth_date must be one of"),
        (lambda r: r["registry"].update(max_batch=0), "registry.max_batch must be"),
        (
            lambda r: r["operations"]["verify_batch"]["request"].pop("item"),
            "operations.verify_batch.request.item must be an element path",
        ),
        (
            lambda r: r["operations"]["lookup"]["request"].update(item="x"),
            "operations.lookup.request.item is not expected",
        ),
    ],
)
def test_a_wrong_mapping_names_file_and_key(change: Any, names: str) -> None:
    message = _broken(change)
    assert message.startswith("registry mapping broken.toml: ")
    assert names in message


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="file not found"):
        mapping.load(str(tmp_path / "none.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[registry\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        mapping.load(str(bad))
