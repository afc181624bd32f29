"""Legal and agency deadlines as effective-dated data, and their pure computation.

Example:
    >>> from datetime import date
    >>> from releaseflow.deadlines import default_rule_set
    >>> rs = default_rule_set()
    >>> rules = rs.rules_for("citizen_info_request", "electronic", date(2026, 3, 2))
    >>> rules[0].amount, rules[0].unit.value
    (3, 'working_days')
"""

from releaseflow.deadlines.compute import (
    AppliedPause,
    DeadlineComputation,
    ExplainedDay,
    Pause,
    compute_deadline,
)
from releaseflow.deadlines.defaults import (
    AMENDED_LATI_FROM,
    DECREE_09_FROM,
    LATI_2016_FROM,
    DeadlineSettings,
    default_rule_set,
)
from releaseflow.deadlines.models import (
    DeadlineRule,
    Extension,
    Flag,
    KnownChannel,
    KnownKind,
    PeriodicObligation,
    StartRule,
    Unit,
)
from releaseflow.deadlines.periodic import add_months, next_periodic_due
from releaseflow.deadlines.ruleset import RuleSet

__all__ = [
    "AMENDED_LATI_FROM",
    "DECREE_09_FROM",
    "LATI_2016_FROM",
    "AppliedPause",
    "DeadlineComputation",
    "DeadlineRule",
    "DeadlineSettings",
    "ExplainedDay",
    "Extension",
    "Flag",
    "KnownChannel",
    "KnownKind",
    "Pause",
    "PeriodicObligation",
    "RuleSet",
    "StartRule",
    "Unit",
    "add_months",
    "compute_deadline",
    "default_rule_set",
    "next_periodic_due",
]
