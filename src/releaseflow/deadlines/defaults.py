"""The shipped Vietnamese rule set and the settings that parameterise it.

Values marked ``C`` were read in (a close paraphrase of) the article; ``U`` and
``agency_default`` values are settings with a documented default, never law.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from releaseflow.deadlines.models import (
    DeadlineRule,
    Flag,
    PeriodicObligation,
    StartRule,
    Unit,
)
from releaseflow.deadlines.ruleset import RuleSet

__all__ = [
    "AMENDED_LATI_FROM",
    "DECREE_09_FROM",
    "LATI_2016_FROM",
    "DeadlineSettings",
    "default_rule_set",
]

LATI_2016_FROM = date(2018, 7, 1)
AMENDED_LATI_FROM = date(2026, 9, 1)
DECREE_09_FROM = date(2017, 3, 30)
_LATI_2016_TO = date(2026, 8, 31)
_POST_FAX = ("post", "fax")
_MIRRORED = ("electronic", "in_person")
_MIRROR_SOURCE = "agency default (LATI Art. 29/30(4) not found)"
_LATI = "Law on Access to Information 2016 (104/2016/QH13)"
_AMENDED = "Amended Law on Access to Information (in force 1 Sep 2026)"

PositiveInt = Annotated[int, Field(ge=1, le=1000)]


class DeadlineSettings(BaseModel):
    """Agency-level settings for values the law leaves open.

    Attributes:
        extension_unit: Unit of the LATI Art. 31(2) extension ("ngày"; the text
            does not say working days). Default calendar days, the shorter and
            therefore safer reading.
        extension_max: Maximum extension (15).
        correction_proposal_unit: Unit of the amended LATI Art. 22 10-day reply
            (not stated). Default calendar days, moved by Civil Code Art. 148.
        incident_statement_hours: Agency default for the first incident statement
            (Decree 09 sets none; old Decision 25/2013 said 1 day, MOET 6 h).
        press_inquiry_working_days: Agency default for answering a journalist.
        report_request_working_days: Default when the superior's letter sets none.
        mirror_post_rules: Apply the Art. 31 post/fax values, flagged
            ``agency_default``, where the law's value was not found (electronic
            complex requests, in-person requests).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    extension_unit: Unit = Unit.CALENDAR_DAYS
    extension_max: PositiveInt = 15
    correction_proposal_unit: Unit = Unit.CALENDAR_DAYS
    incident_statement_hours: PositiveInt = 24
    press_inquiry_working_days: PositiveInt = 2
    report_request_working_days: PositiveInt = 5
    mirror_post_rules: bool = True


def _cir(suffix: str, **kw: object) -> DeadlineRule:
    """Build a citizen-information-request rule with shared defaults."""
    base: dict[str, object] = {
        "id": f"lati2016.{suffix}",
        "kind": "citizen_info_request",
    }
    base.update(kw)
    return DeadlineRule.model_validate(base)


def _lati_2016(s: DeadlineSettings) -> list[DeadlineRule]:
    """LATI 2016 Art. 30-31 rules, in force 1 Jul 2018 - 31 Aug 2026."""
    common = {"effective_from": LATI_2016_FROM, "effective_to": _LATI_2016_TO}
    wd = Unit.WORKING_DAYS
    rules = [
        _cir(
            "post_fax.simple.provide",
            channels=_POST_FAX,
            step="provide",
            complexity="simple",
            amount=5,
            unit=wd,
            legal_source=f"{_LATI} Art. 31(1)",
            flag=Flag.CONFIRMED,
            **common,
        ),
        _cir(
            "post_fax.complex.notify_deadline",
            channels=_POST_FAX,
            step="notify_deadline",
            complexity="complex",
            amount=3,
            unit=wd,
            legal_source=f"{_LATI} Art. 31(2)",
            flag=Flag.CONFIRMED,
            **common,
        ),
        _cir(
            "post_fax.complex.provide",
            channels=_POST_FAX,
            step="provide",
            complexity="complex",
            amount=15,
            unit=wd,
            legal_source=f"{_LATI} Art. 31(2)",
            flag=Flag.CONFIRMED,
            **common,
        ),
        _cir(
            "electronic.simple.provide",
            channels=("electronic",),
            step="provide",
            complexity="simple",
            amount=3,
            unit=wd,
            legal_source=f"{_LATI} Art. 30(3)",
            flag=Flag.CONFIRMED,
            **common,
        ),
        _extension("lati2016.extension", s, f"{_LATI} Art. 31(2)", **common),
    ]
    return rules + (_mirrored("lati2016", s, **common) if s.mirror_post_rules else [])


def _extension(
    rule_id: str, s: DeadlineSettings, source: str, **common: object
) -> DeadlineRule:
    """The 'up to N days' extension rule, unit from the settings."""
    return DeadlineRule.model_validate(
        {
            "id": rule_id,
            "kind": "citizen_info_request",
            "step": "extension",
            "complexity": "complex",
            "channels": _POST_FAX + (_MIRRORED if s.mirror_post_rules else ()),
            "amount": s.extension_max,
            "unit": s.extension_unit,
            "start_rule": StartRule.DAY_AFTER_PREVIOUS_DEADLINE,
            "legal_source": source,
            "flag": Flag.CONFIRMED,
            "is_maximum": True,
            "note": (
                "unit is the extension_unit setting: "
                "the text says 'ngày', not 'ngày làm việc'"
            ),
            **common,
        }
    )


def _mirrored(prefix: str, s: DeadlineSettings, **common: object) -> list[DeadlineRule]:
    """Agency defaults copying Art. 31 where the law's value was not found."""
    note = "law's value not found; Art. 31 post/fax value used as agency default"
    out = []
    for channels, complexities in (
        (("electronic",), ("complex",)),
        (("in_person",), ("simple", "complex")),
    ):
        for cx in complexities:
            steps = (
                [("provide", 5)]
                if cx == "simple"
                else [("notify_deadline", 3), ("provide", 15)]
            )
            for step, amount in steps:
                out.append(
                    DeadlineRule.model_validate(
                        {
                            "id": f"{prefix}.{channels[0]}.{cx}.{step}",
                            "kind": "citizen_info_request",
                            "channels": channels,
                            "step": step,
                            "complexity": cx,
                            "amount": amount,
                            "unit": Unit.WORKING_DAYS,
                            "legal_source": _MIRROR_SOURCE,
                            "flag": Flag.AGENCY_DEFAULT,
                            "note": note,
                            **common,
                        }
                    )
                )
    return out


def _amended_lati(
    old_rules: list[DeadlineRule], s: DeadlineSettings
) -> list[DeadlineRule]:
    """Rules from 1 Sep 2026: LATI 2016 values carried over (flag U) + Art. 22."""
    carried = [
        r.model_copy(
            update={
                "id": r.id.replace("lati2016.", "lati2026.", 1),
                "effective_from": AMENDED_LATI_FROM,
                "effective_to": None,
                "flag": Flag.AGENCY_DEFAULT
                if r.flag is Flag.AGENCY_DEFAULT
                else Flag.UNCONFIRMED,
                "legal_source": (
                    f"{_AMENDED}: request deadlines not found; "
                    f"carried over from {r.legal_source}"
                ),
            }
        )
        for r in old_rules
    ]
    correction = DeadlineRule(
        id="lati2026.correction_proposal.reply",
        kind="disclosure_correction_proposal",
        step="check_and_reply",
        amount=10,
        unit=s.correction_proposal_unit,
        legal_source=f"{_AMENDED} Art. 22",
        flag=Flag.CONFIRMED,
        effective_from=AMENDED_LATI_FROM,
        note=(
            "'10 days': unit not stated; correction_proposal_unit setting "
            "(default calendar days, Art. 148 applies)"
        ),
    )
    return [*carried, correction]


def _agency_defaults(s: DeadlineSettings) -> list[DeadlineRule]:
    """Deadlines the law does not set: documented agency defaults."""
    return [
        DeadlineRule(
            id="agency.incident_statement.initial",
            kind="incident_statement",
            step="initial_statement",
            amount=s.incident_statement_hours,
            unit=Unit.HOURS,
            start_rule=StartRule.FROM_MOMENT,
            legal_source="agency default; Decree 09/2017 Art. 6 sets no time limit "
            "(old Decision 25/2013/QD-TTg: 1 day; MOET Decision 22/QD-BGDDT: 6 hours)",
            flag=Flag.AGENCY_DEFAULT,
            effective_from=DECREE_09_FROM,
        ),
        DeadlineRule(
            id="agency.press_inquiry.answer",
            kind="press_inquiry",
            step="answer",
            amount=s.press_inquiry_working_days,
            unit=Unit.WORKING_DAYS,
            legal_source=(
                "agency default; no statutory deadline found "
                "(Decree 09/2017 Art. 4, 6(3)(b))"
            ),
            flag=Flag.AGENCY_DEFAULT,
            effective_from=DECREE_09_FROM,
        ),
        DeadlineRule(
            id="agency.report_request.submit",
            kind="report_request",
            step="submit",
            amount=s.report_request_working_days,
            unit=Unit.WORKING_DAYS,
            legal_source=(
                "agency default; normally set by the superior's requesting letter"
            ),
            flag=Flag.AGENCY_DEFAULT,
            effective_from=DECREE_09_FROM,
        ),
    ]


def _periodic() -> list[PeriodicObligation]:
    """Decree 09/2017 Art. 5 periodic release duties for the levels it names."""
    top = ("ministry", "provincial_people_committee")
    return [
        PeriodicObligation(
            id="decree09.government.monthly",
            obligation="monthly_press_conference",
            levels=("government",),
            every_months=1,
            legal_source="Decree 09/2017/ND-CP Art. 5(1)",
            flag=Flag.CONFIRMED,
            effective_from=DECREE_09_FROM,
        ),
        PeriodicObligation(
            id="decree09.monthly_information",
            obligation="monthly_information",
            levels=top,
            every_months=1,
            legal_source="Decree 09/2017/ND-CP Art. 5(2)(a)",
            flag=Flag.CONFIRMED,
            effective_from=DECREE_09_FROM,
        ),
        PeriodicObligation(
            id="decree09.press_conference",
            obligation="press_conference",
            levels=top,
            every_months=3,
            legal_source=(
                "Decree 09/2017/ND-CP Art. 5(2)(b) (at least once every 3 months)"
            ),
            flag=Flag.CONFIRMED,
            effective_from=DECREE_09_FROM,
            note=(
                "departments/district level: frequency not found - "
                "add via RuleSet.with_periodic"
            ),
        ),
    ]


def default_rule_set(settings: DeadlineSettings | None = None) -> RuleSet:
    """Return the shipped Vietnamese rule set, parameterised by ``settings``.

    Args:
        settings: Agency settings; defaults documented on :class:`DeadlineSettings`.

    Returns:
        A rule set with LATI 2016, the amended LATI (from 2026-09-01), agency
        defaults and Decree 09 Art. 5 periodic obligations.

    Example:
        >>> from datetime import date
        >>> rs = default_rule_set()
        >>> rules = rs.rules_for("citizen_info_request", "post", date(2026, 2, 13))
        >>> [r.id for r in rules][:2]  # doctest: +NORMALIZE_WHITESPACE
        ['lati2016.post_fax.simple.provide',
         'lati2016.post_fax.complex.notify_deadline']
    """
    s = settings or DeadlineSettings()
    lati = _lati_2016(s)
    rules = [*lati, *_amended_lati(lati, s), *_agency_defaults(s)]
    return RuleSet(
        name="releaseflow-vn", rules=tuple(rules), periodic=tuple(_periodic())
    )
