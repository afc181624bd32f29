"""Every figure against a brute-force count over the same requests and entries."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime

import releaseflow as rf
from releaseflow import reports
from releaseflow.reports import Figure, Outcomes, Report
from releaseflow.reports.model import IncidentItem
from tests.reports import brute

OUTCOMES = ("released", "refused", "withdrawn", "pending")


def q3(flow: rf.ReleaseFlow, **kw: object) -> Report:
    return reports.build(flow, "2026-Q3", **kw)  # type: ignore[arg-type]


def test_outcomes_match_brute_force(seeded: rf.ReleaseFlow) -> None:
    """Received/released/refused/withdrawn/pending, in total and by kind and channel."""
    report = q3(seeded)
    found = brute.requests(seeded)
    cutoff = report.meta.cutoff
    assert report.totals.received.value == len(found) == 14
    for name in OUTCOMES:
        want = {str(r.id) for r in found if brute.outcome(r, cutoff) == name}
        assert set(getattr(report.totals, name).ids) == want
    for kind, outcomes in report.by_kind.items():
        mine = [r for r in found if r.kind.value == kind]
        assert set(outcomes.received.ids) == {str(r.id) for r in mine}
        for name in OUTCOMES:
            assert getattr(outcomes, name).value == sum(
                brute.outcome(r, cutoff) == name for r in mine
            )
    assert brute.counter([r.channel.value for r in found]) == {
        k: o.received.value for k, o in report.by_channel.items()
    }


def test_forms_grounds_and_press(seeded: rf.ReleaseFlow) -> None:
    """Release forms, refusal grounds and press served agree with the documents."""
    report = q3(seeded)
    found = brute.requests(seeded)
    forms = brute.counter([r.release.form.value for r in found if r.release])
    assert {k: f.value for k, f in report.by_release_form.items()} == forms
    grounds = brute.counter([r.refusal.ground.value for r in found if r.refusal])
    assert {k: f.value for k, f in report.refusals_by_ground.items()} == grounds
    orgs = brute.counter(
        [
            r.requester.organisation
            for r in found
            if r.requester and r.requester.type.value == "journalist"
        ]
    )
    assert {k: f.value for k, f in report.press_agencies.items()} == orgs


def test_released_matches_audit_release_entries(seeded: rf.ReleaseFlow) -> None:
    """The released figure equals the requests with a release entry in the log."""
    report = q3(seeded)
    members = set(report.totals.received.ids)
    released = {
        str(e.request_id)
        for e in seeded.audit.entries()
        if "form" in e.payload and str(e.request_id) in members
    }
    assert set(report.totals.released.ids) == released


def test_deadlines_match_brute_force(seeded: rf.ReleaseFlow) -> None:
    """Per rule: met on time, missed (late or overdue), open; and the on-time rate."""
    report = q3(seeded)
    cutoff = report.meta.cutoff
    want: dict[str, dict[str, set[str]]] = {}
    for r in brute.requests(seeded):
        for rule, state in brute.deadline_states(r, cutoff).items():
            want.setdefault(rule, {}).setdefault(state, set()).add(str(r.id))
    for rule, stats in report.deadlines.items():
        for state in ("met", "missed", "open"):
            assert set(getattr(stats, state).ids) == want[rule].get(state, set())
        due = stats.met.value + stats.missed.value
        assert stats.on_time_rate == (round(stats.met.value / due, 4) if due else None)
    assert set(report.deadlines) == set(want)
    assert report.deadlines_overall.missed.value >= 1  # the demo's forgotten request


def test_time_to_release(seeded: rf.ReleaseFlow) -> None:
    """Median and nearest-rank p90 of receipt-to-release seconds."""
    report = q3(seeded)
    secs = sorted(
        int((r.release.at - r.received_at).total_seconds())
        for r in brute.requests(seeded)
        if r.release
    )
    d = report.time_to_release
    assert d.count.value == len(secs)
    assert d.median_seconds == round(statistics.median(secs))
    assert d.p90_seconds == secs[math.ceil(0.9 * len(secs)) - 1]
    assert [i.response_seconds is not None for i in report.incidents] == [True]


def test_special_sections(seeded: rf.ReleaseFlow) -> None:
    """Corrections, fake news, periodic obligations and policy drafts."""
    report = q3(seeded)
    assert report.corrections.received.value == 1
    assert {k: f.value for k, f in report.correction_outcomes.items()} == {
        "published_by_press": 1
    }
    assert report.fake_news.released.value == 1
    statuses = {(o.name, o.bucket): o.status for o in report.obligations}
    assert statuses[("monthly_information", "2026-07")] == "met"
    assert statuses[("monthly_information", "2026-08")] == "missed"
    assert statuses[("quarterly_press_conference", "2026-Q3")] == "met"
    assert report.policy_drafts.share == 1.0


def _figures(o: Outcomes) -> list[Figure]:
    return [o.released, o.refused, o.withdrawn, o.pending]


def test_every_drill_down_sums_to_its_figure(seeded: rf.ReleaseFlow) -> None:
    """Each figure's ids number its value; outcomes partition what was received."""
    report = q3(seeded)
    everyone = set(report.totals.received.ids)
    for row in report.rows():
        assert row.value == len(row.ids) == len(set(row.ids))
        assert set(row.ids) <= everyone
    for o in [report.totals, *report.by_kind.values(), *report.by_channel.values()]:
        parts = [set(f.ids) for f in _figures(o)]
        assert set().union(*parts) == set(o.received.ids)
        assert sum(len(p) for p in parts) == o.received.value
    assert sum(o.received.value for o in report.by_kind.values()) == len(everyone)
    assert sum(o.received.value for o in report.by_channel.values()) == len(everyone)
    assert sum(f.value for f in report.by_release_form.values()) == (
        report.totals.released.value
    )
    assert sum(f.value for f in report.refusals_by_ground.values()) == (
        report.totals.refused.value
    )


def test_unit_includes_sub_units(seeded: rf.ReleaseFlow) -> None:
    """``danang/soyte`` covers its hospitals and health centre, not ``danang/stttt``."""
    report = q3(seeded, unit="danang/soyte")
    want = {str(r.id) for r in brute.requests(seeded, unit="danang/soyte")}
    assert set(report.totals.received.ids) == want
    assert any(
        seeded.get(i).unit.startswith("danang/soyte/")
        for i in report.totals.received.ids
    )
    kinds = q3(seeded, kinds=["press_inquiry"])
    assert set(kinds.by_kind) == {"press_inquiry"}


def test_as_of_reads_the_log_as_it_stood(seeded: rf.ReleaseFlow) -> None:
    """With an earlier cut-off, later releases are pending and the report is partial."""
    as_of = datetime(2026, 8, 1, tzinfo=UTC)
    report = q3(seeded, as_of=as_of)
    assert report.meta.partial
    assert report.meta.cutoff == as_of
    for rid in report.totals.released.ids:
        release = seeded.get(rid).release
        assert release is not None
        assert release.at < as_of
    assert all(seeded.get(i).received_at < as_of for i in report.totals.received.ids)


def test_report_records_the_audit_heads(seeded: rf.ReleaseFlow) -> None:
    """The heads and anchor digest are those of the log the report was read from."""
    report = q3(seeded)
    anchor = seeded.audit.anchor()
    assert list(report.meta.heads) == list(anchor.heads)
    assert report.meta.anchor_digest == anchor.digest


def test_month_year_and_range_periods(seeded: rf.ReleaseFlow) -> None:
    """A month, a year and an explicit range partition the same requests."""
    from datetime import date

    months = [reports.build(seeded, f"2026-0{m}") for m in (7, 8, 9)]
    year = reports.build(seeded, "2026")
    span = reports.build(seeded, (date(2026, 7, 1), date(2026, 9, 30)))
    ids = set().union(*(set(m.totals.received.ids) for m in months))
    assert ids == set(span.totals.received.ids) <= set(year.totals.received.ids)
    assert [o.bucket for o in months[0].obligations] == ["2026-07"]


def test_json_round_trip(seeded: rf.ReleaseFlow) -> None:
    """The JSON form reads back to an equal report and is deterministic."""
    report = q3(seeded)
    text = reports.to_json(report)
    assert reports.from_json(text) == report
    assert reports.to_json(reports.from_json(text)) == text


def test_fast_json_is_byte_identical_to_json_dumps(seeded: rf.ReleaseFlow) -> None:
    """The compact encoder gives exactly the canonical ``json.dumps`` bytes."""
    import json

    report = q3(seeded)
    odd = Figure.of(['a"b', "c\\d", "e\nf", "Phóng viên"])
    ascii_odd = {"b": Figure.of(["c\\d", "x"]), "c": Figure.of(["e\x01f", "g"])}
    incident = IncidentItem(
        id='i"d',
        title='a\\b\n"c"\u2028 \x01 Sự cố',
        received_at=datetime(2026, 7, 3, 1, 2, 3, 456789, tzinfo=UTC),
    )
    report = report.model_copy(
        update={
            "journalists": {"x\u2028y": odd},
            "press_agencies": ascii_odd,
            "incidents": (*report.incidents, incident),
        }
    )
    assert len(report.incidents) == 2
    want = json.dumps(
        report.model_dump(mode="json"),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert reports.to_json(report) == want
    assert reports.from_json(want) == report


def test_fast_json_reuses_only_equal_id_lists(seeded: rf.ReleaseFlow) -> None:
    """Equal id lists are encoded once, others each from their own ids.

    Lists that share only their length and ends (the memo's key) must not reuse
    each other's text.
    """
    import json

    report = q3(seeded)
    same = ("a", "m", "z")
    odd = ("a", 'q"', "z")
    report = report.model_copy(
        update={
            "journalists": {
                "a": Figure.of_sorted(list(same)),
                "b": Figure.of_sorted(["a", "n", "z"]),
                "c": Figure.of_sorted(list(same)),
                "d": Figure.of_sorted(list(odd)),
                "e": Figure.of_sorted(["a", "r", "z"]),
                "f": Figure.of_sorted(list(odd)),
            },
        }
    )
    want = json.dumps(
        report.model_dump(mode="json"),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    text = reports.to_json(report)
    assert text == want
    got = json.loads(text)["journalists"]
    assert [got[k]["ids"][1] for k in "abcdef"] == ["m", "n", "m", 'q"', "r", 'q"']
