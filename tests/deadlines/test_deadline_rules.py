from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError as PydanticValidationError

from releaseflow.deadlines import (
    AMENDED_LATI_FROM,
    DeadlineRule,
    DeadlineSettings,
    Flag,
    PeriodicObligation,
    StartRule,
    Unit,
    default_rule_set,
)
from releaseflow.exceptions import ValidationError

RS = default_rule_set()


def _ids(kind: str, channel: str, on: date) -> set[str]:
    return {r.id for r in RS.rules_for(kind, channel, on)}


def test_lati_2016_post_rules_before_the_amendment() -> None:
    rules = {
        r.id: r for r in RS.rules_for("citizen_info_request", "fax", date(2026, 8, 31))
    }
    simple = rules["lati2016.post_fax.simple.provide"]
    assert (simple.amount, simple.unit, simple.flag) == (
        5,
        Unit.WORKING_DAYS,
        Flag.CONFIRMED,
    )
    assert "Art. 31(1)" in simple.legal_source
    assert rules["lati2016.post_fax.complex.notify_deadline"].amount == 3
    assert rules["lati2016.post_fax.complex.provide"].amount == 15
    ext = rules["lati2016.extension"]
    assert (ext.amount, ext.unit, ext.is_maximum) == (15, Unit.CALENDAR_DAYS, True)


def test_electronic_simple_is_three_working_days() -> None:
    (rule,) = [
        r
        for r in RS.rules_for("citizen_info_request", "electronic", date(2025, 3, 3))
        if r.complexity == "simple"
    ]
    assert (rule.amount, rule.unit, rule.flag) == (3, Unit.WORKING_DAYS, Flag.CONFIRMED)


def test_rules_switch_on_the_amendment_date() -> None:
    before = _ids("citizen_info_request", "post", date(2026, 8, 31))
    after = _ids("citizen_info_request", "post", AMENDED_LATI_FROM)
    assert all(i.startswith("lati2016.") for i in before)
    assert all(i.startswith("lati2026.") for i in after)
    assert len(before) == len(after) == 4


def test_correction_proposal_only_from_2026_09_01() -> None:
    assert (
        _ids("disclosure_correction_proposal", "electronic", date(2026, 8, 31)) == set()
    )
    (rule,) = RS.rules_for("disclosure_correction_proposal", "post", date(2026, 9, 1))
    assert (rule.amount, rule.unit) == (10, Unit.CALENDAR_DAYS)
    assert "Art. 22" in rule.legal_source


def test_agency_defaults_are_flagged() -> None:
    (incident,) = RS.rules_for("incident_statement", "internal", date(2026, 3, 1))
    assert (incident.amount, incident.unit, incident.flag) == (
        24,
        Unit.HOURS,
        Flag.AGENCY_DEFAULT,
    )
    (press,) = RS.rules_for("press_inquiry", "phone", date(2026, 3, 1))
    assert (press.amount, press.unit) == (2, Unit.WORKING_DAYS)


def test_settings_change_the_defaults() -> None:
    rs = default_rule_set(
        DeadlineSettings(
            extension_unit=Unit.WORKING_DAYS,
            correction_proposal_unit=Unit.WORKING_DAYS,
            incident_statement_hours=6,
            mirror_post_rules=False,
        )
    )
    assert rs.rule("lati2016.extension").unit is Unit.WORKING_DAYS
    assert rs.rule("lati2026.correction_proposal.reply").unit is Unit.WORKING_DAYS
    assert rs.rule("agency.incident_statement.initial").amount == 6
    assert rs.rules_for("citizen_info_request", "in_person", date(2026, 3, 2)) == ()
    assert rs.fingerprint != RS.fingerprint


@pytest.mark.parametrize(
    ("kind", "channel", "field"),
    [("nonsense", "post", "kind"), ("citizen_info_request", "pigeon", "channel")],
)
def test_unknown_kind_or_channel(kind: str, channel: str, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        RS.rules_for(kind, channel, date(2026, 3, 2))
    assert err.value.field == field


def test_on_must_be_a_date() -> None:
    with pytest.raises(ValidationError) as err:
        RS.rules_for("press_inquiry", "post", datetime(2026, 3, 2, tzinfo=UTC))
    assert err.value.field == "on"


def test_unknown_rule_id() -> None:
    with pytest.raises(ValidationError) as err:
        RS.rule("nope")
    assert err.value.field == "rule_id"


def test_with_rule_replaces_by_id_and_adds_new_kinds() -> None:
    mine = RS.rule("agency.press_inquiry.answer").model_copy(update={"amount": 1})
    rs = RS.with_rule(mine)
    assert rs.rule("agency.press_inquiry.answer").amount == 1
    assert RS.rule("agency.press_inquiry.answer").amount == 2
    custom = DeadlineRule(
        id="agency.fake_news.clarify",
        kind="rumour_rebuttal",
        amount=12,
        unit=Unit.HOURS,
        start_rule=StartRule.FROM_MOMENT,
        legal_source="Health centre regulation 12/QD (test)",
        flag=Flag.AGENCY_DEFAULT,
        effective_from=date(2026, 1, 1),
    )
    rs2 = rs.with_rule(custom)
    assert rs2.rules_for("rumour_rebuttal", "electronic", date(2026, 5, 1)) == (custom,)
    assert rs2.without_rule(custom.id).rules == rs.rules


def test_rule_model_validation() -> None:
    base = RS.rule("agency.press_inquiry.answer").model_dump()
    with pytest.raises(PydanticValidationError):
        DeadlineRule.model_validate({**base, "amount": -1})
    with pytest.raises(PydanticValidationError):
        DeadlineRule.model_validate({**base, "effective_to": date(2000, 1, 1)})
    with pytest.raises(PydanticValidationError):
        DeadlineRule.model_validate({**base, "unit": "hours"})  # day start rule
    with pytest.raises(PydanticValidationError):
        DeadlineRule.model_validate({**base, "kind": "Press Inquiry"})
    with pytest.raises(PydanticValidationError):
        DeadlineRule.model_validate({**base, "legal_source": " "})
    with pytest.raises(PydanticValidationError):
        RS.model_copy().model_validate({"name": "x", "rules": [base, base]})


def test_make_extension_checks_the_maximum() -> None:
    ext = RS.make_extension("lati2016.extension", 15, "needs archive retrieval")
    assert (ext.amount, ext.unit, ext.rule_id) == (
        15,
        Unit.CALENDAR_DAYS,
        "lati2016.extension",
    )
    with pytest.raises(ValidationError) as err:
        RS.make_extension("lati2016.extension", 16, "too long")
    assert err.value.field == "amount"
    with pytest.raises(ValidationError) as err2:
        RS.make_extension("lati2016.extension", 5, "  ")
    assert err2.value.field == "reason"
    with pytest.raises(ValidationError):
        RS.make_extension("agency.press_inquiry.answer", 1, "x")


def test_periodic_obligations_by_level() -> None:
    prov = RS.periodic_for("provincial_people_committee", date(2026, 3, 1))
    assert {(p.obligation, p.every_months) for p in prov} == {
        ("monthly_information", 1),
        ("press_conference", 3),
    }
    assert RS.periodic_for("department", date(2026, 3, 1)) == ()
    dept = PeriodicObligation(
        id="agency.department.press_conference",
        obligation="press_conference",
        levels=("department",),
        every_months=6,
        legal_source="Department regulation (test)",
        flag=Flag.AGENCY_DEFAULT,
        effective_from=date(2026, 1, 1),
    )
    assert RS.with_periodic(dept).periodic_for("department", date(2026, 3, 1)) == (
        dept,
    )
