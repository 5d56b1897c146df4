"""ISO 20022: every real sample under shared/fixtures/iso20022 read (genkgo's expected values
checked), our pain.001 valid against the official XSDs, hostile and broken XML refused."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from adapters.payments.errors import MessageRejected
from adapters.payments.iso20022 import schemas
from adapters.payments.iso20022.read import read
from adapters.payments.iso20022.write import Debtor, pain001
from adapters.payments.port import Batch, PaymentItem
from gateway.domain.payment_reasons import REASONS, ReasonAction, action_for

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "iso20022"
if not FIXTURES.exists():
    FIXTURES = Path("/work/shared/fixtures/iso20022")
SAMPLES = sorted(p for p in FIXTURES.rglob("*.xml"))
# real files our strict reading refuses, and why (a broken BIC; a template with placeholders)
REFUSED = {
    "camt053.v2.wrong.xml": "file.xsd.invalid",
    "test-pain-parse-0020110-02.xml": "file.xsd.invalid",
    "pain_001_v3_sepa.xml": "file.xsd.invalid",
}


def test_the_fixture_set_is_there() -> None:
    assert len(SAMPLES) >= 40


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_real_sample_is_read_or_refused_with_a_reason(path: Path) -> None:
    if path.name in REFUSED:
        with pytest.raises(MessageRejected) as exc:
            list(read(path).items)
        assert exc.value.code == REFUSED[path.name]
        return
    parsed = read(path)
    items = list(parsed.items)
    assert parsed.kind in ("pain.001", "pain.002", "camt.052", "camt.053", "camt.054")
    assert parsed.message_id
    for item in items:
        assert item.outcome in (
            "settled",
            "rejected",
            "returned",
            "pending",
            "credited",
            "unknown",
            "instructed",
        )
        assert item.scope in ("item", "batch")
    counted = sum(parsed.counts.values())
    assert counted >= len([i for i in items if i.scope == "item"]) or parsed.kind == "camt.054"


GENKGO = sorted((FIXTURES / "genkgo__camt").glob("*.json"))


def _money(m: dict) -> tuple[Decimal, str]:
    return Decimal(m["getAmount"]), m["getCurrency"]["getCode"]


@pytest.mark.parametrize("expected_file", GENKGO, ids=lambda p: p.name)
def test_genkgo_expected_values(expected_file: Path) -> None:
    expected = json.loads(expected_file.read_text())
    parsed = read(expected_file.with_suffix(".xml"))
    items = list(parsed.items)
    assert parsed.message_id == expected["getGroupHeader"]["getMessageId"]
    entries = [e for e in expected["getEntries"] if isinstance(e, dict)]
    assert parsed.counts["entries"] >= len(entries)
    for entry in entries:
        amount, currency = _money(entry["getAmount"])  # minor units, negative for debits
        debit = entry["getCreditDebitIndicator"] == "DBIT"
        assert (amount < 0) == debit or amount == 0
        mine = [i for i in items if i.currency == currency]
        details = [d for d in entry.get("getTransactionDetails") or [] if isinstance(d, dict)]
        refs = {
            (d.get("getReference") or {}).get("getEndToEndId")
            for d in details
            if (d.get("getReference") or {}).get("getEndToEndId") not in (None, "NOTPROVIDED")
        }
        assert refs <= {i.reference for i in items}
        tx_currencies = {
            (d.get("getAmount") or {}).get("getCurrency", {}).get("getCode") for d in details
        }
        assert mine or tx_currencies & {i.currency for i in items}, f"no item in {currency}"
        if entry.get("getReversalIndicator"):
            assert any(i.outcome == "returned" for i in mine or items)
        status = entry.get("getStatus")
        if status:
            assert any(i.raw_status and i.raw_status.startswith(status) for i in mine or items)
        if len(details) <= 1 and mine and not entry.get("getReversalIndicator"):
            # one transaction: its amount is the entry's, in major units
            totals = {Decimal(i.amount_text) for i in mine if i.amount_text}
            assert abs(amount) / 100 in totals or abs(amount) in totals


def _batch(n: int = 3) -> Batch:
    items = tuple(
        PaymentItem(
            f"ASREF{i:015d}",
            500_000 + i,
            "Nguyễn Thị Đào",
            "970436",
            f"00{i:08d}",
            note="ND20-TCXH 2026-07",
        )
        for i in range(n)
    )
    return Batch("ND20-TCXH-2026-07-bank-20260710101010000001", "ND20-TCXH", "2026-07", items)


@pytest.mark.parametrize("version", ["pain.001.001.03", "pain.001.001.09"])
def test_pain001_is_valid_against_the_official_xsd(version: str) -> None:
    body = pain001(
        _batch(),
        debtor=Debtor("Sở Y tế TP.HCM", "1234567890", "970415"),
        created=dt.datetime(2026, 7, 10, 8, tzinfo=dt.UTC),
        execution_date=dt.date(2026, 7, 10),
        version=version,
    )
    xsd = etree.XMLSchema(
        etree.parse(str(FIXTURES / "raphaelm__python-sepaxml" / f"{version}.xsd"))
    )
    assert xsd.validate(etree.fromstring(body)), xsd.error_log
    back = list(read(body).items)
    assert [i.reference for i in back] == [i.reference for i in _batch().items]
    assert [i.amount for i in back] == [500_000, 500_001, 500_002]
    assert b"NGUYEN THI DAO" in body  # names in the form banks keep


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>&x;</MsgId></GrpHdr></BkToCstmrStmt></Document>"""
BILLION = b"""<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>
<Document><CstmrPmtStsRpt><GrpHdr><MsgId>&b;</MsgId></GrpHdr></CstmrPmtStsRpt></Document>"""


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (XXE, "file.xml.forbidden"),
        (BILLION, "file.xml.forbidden"),
        (b"<Document><BkToCstmrStmt><GrpHdr>", "file.xml.malformed"),
        (b"<Document><Other/></Document>", "file.kind.unsupported"),
    ],
    ids=["xxe", "entity-expansion", "malformed", "unsupported"],
)
def test_hostile_and_broken_xml_is_refused(body: bytes, code: str) -> None:
    with pytest.raises(MessageRejected) as exc:
        list(read(body).items)
    assert exc.value.code == code
    assert exc.value.message and exc.value.message_vi


def test_bank_quirks_are_tolerated_with_a_warning() -> None:
    source = (FIXTURES / "genkgo__camt" / "camt054.v2.xml").read_bytes()
    long_text = "X" * 300
    quirky = source.replace(b"<Ustrd>", f"<Ustrd>{long_text}".encode(), 1)
    assert schemas.schema("camt.054.001.02").validate(etree.fromstring(quirky)) is False
    parsed = read(quirky)
    items = list(parsed.items)
    assert any("facet" in w for w in parsed.warnings)
    assert all(len(i.note or "") <= 140 for i in items)
    no_namespace = source.replace(b'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"', b"")
    parsed = read(no_namespace)
    assert len(list(parsed.items)) == len(items)
    assert any("no XML namespace" in w for w in parsed.warnings)


def test_reason_codes_are_real_iso_codes_with_an_action() -> None:
    codes = json.loads(
        (FIXTURES / "iso20022-external-code-sets" / "external_status_reason_code.json").read_text()
    )["codes"]
    assert set(REASONS) <= set(codes)
    assert action_for("AC04") == ReasonAction.NEW_ACCOUNT
    assert action_for("MD07") == ReasonAction.STOP_BENEFIT
    assert action_for("AM05") == ReasonAction.INCIDENT and not REASONS["AM05"].retry_allowed
    assert action_for("ZZ99") == ReasonAction.MANUAL


def test_an_entry_is_read_along_its_paths_whatever_else_it_carries() -> None:
    """The statement reader walks each entry along the paths it reads: elements it does not
    read (charges, bank codes), comments and a repeated element change nothing, and of two
    same-path elements the first one is read."""
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    entry = (
        "<Ntry><!-- a bank's note --><Amt Ccy='VND'>500000</Amt><CdtDbtInd>DBIT</CdtDbtInd>"
        "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-07-10</Dt></BookgDt>"
        "<AcctSvcrRef>BK1</AcctSvcrRef><AcctSvcrRef>BK2</AcctSvcrRef>"
        "<BkTxCd><Domn><Cd>PMNT</Cd></Domn></BkTxCd>"
        "<Chrgs><Rcrd><Amt Ccy='VND'>1100</Amt></Rcrd></Chrgs>"
        "<NtryDtls><TxDtls><Refs><EndToEndId>AS1</EndToEndId></Refs>"
        "<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>"
        "<RmtInf><Ustrd>first</Ustrd><Ustrd>second</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
    )
    doc = (
        f"<?xml version='1.0'?><Document xmlns='{ns}'><BkToCstmrStmt><GrpHdr><MsgId>S1</MsgId>"
        f"<CreDtTm>2026-07-10T08:00:00</CreDtTm></GrpHdr><Stmt><Id>S1</Id>{entry}</Stmt>"
        "</BkToCstmrStmt></Document>"
    ).encode()
    [item] = list(read(doc, validate=False).items)
    assert (item.reference, item.outcome, item.reason_code) == ("AS1", "returned", "AC04")
    assert (item.amount, item.currency, item.note) == (500_000, "VND", "first")
    assert item.item_key == "ntry:BK1:0:AS1:BOOK:returned"
    assert item.occurred_at is not None and item.occurred_at.date().isoformat() == "2026-07-10"
