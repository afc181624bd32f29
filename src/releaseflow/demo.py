"""A realistic quarter of activity, for trying the command line and the docs.

:func:`seed` staffs two departments of a city (health and information), then plays
requests of **every shipped kind** through their workflows from the first day of the
current quarter up to ``today``: releases, refusals under legal grounds, a
restriction, a revision, a revoked approval, and a citizen's request left waiting so
its legal deadline is missed. Timestamps are spread over working hours (Vietnam,
UTC+7). The flow's clock is driven by the seeder while it runs, so do not seed a
flow that is serving other calls.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from .vocabulary import RequestKind, Role

if TYPE_CHECKING:
    from .models import Request
    from .service import ReleaseFlow

__all__ = ["STAFF", "DemoSummary", "quarter_start", "seed"]

HEALTH: Final = "danang/soyte"
INFO: Final = "danang/stttt"

#: Who holds which role where (actor -> (role, unit)).
STAFF: Final[dict[str, tuple[Role, str]]] = {
    "head.pham": (Role.HEAD, HEALTH),
    "deputy.ngo": (Role.DEPUTY_HEAD, HEALTH),
    "spoke.tran": (Role.SPOKESPERSON, HEALTH),
    "coord.bui": (Role.COORDINATING_OFFICER, HEALTH),
    "comms.nguyen": (Role.COMMS_OFFICER, HEALTH),
    "review.le": (Role.REVIEWER, HEALTH),
    "contrib.do": (Role.CONTRIBUTOR, HEALTH),
    "focal.ho": (Role.INFO_FOCAL_UNIT, HEALTH),
    "head.dinh": (Role.HEAD, INFO),
    "spoke.lam": (Role.SPOKESPERSON, INFO),
    "comms.trinh": (Role.COMMS_OFFICER, INFO),
    "review.phan": (Role.REVIEWER, INFO),
    "focal.cao": (Role.INFO_FOCAL_UNIT, INFO),
    "drafter.vu": (Role.DRAFTING_UNIT, INFO),
    "auditor.ly": (Role.AUDITOR, "danang"),
}

_JOURNALIST: Final = {
    "type": "journalist",
    "name": "Hoàng Thị E",
    "organisation": "Báo Đà Nẵng",
    "press_card": "PV-0421",
}
_CITIZEN: Final = {"type": "citizen", "name": "Nguyễn Văn K"}

Step = tuple[str, str, dict[str, Any]]


@dataclass
class DemoSummary:
    """What :func:`seed` created."""

    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    missed_deadline: str | None = None
    """The id of the request whose legal deadline was left to pass."""


def quarter_start(today: date) -> date:
    """The first day of the quarter ``today`` is in."""
    return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)


class _Clock:
    """A clock that walks through working hours from ``start`` to ``end``."""

    def __init__(self, start: datetime, end: datetime, rng: random.Random) -> None:
        self.now, self.end, self.rng = start, end, rng

    def __call__(self) -> datetime:
        return self.now

    def tick(self, minutes: int) -> None:
        step = timedelta(minutes=minutes + self.rng.randint(0, minutes))
        self.now = min(self.now + step, self.end)


def _press(r: str) -> list[Step]:
    return [
        ("triage", "coord.bui", {}),
        ("edit", "comms.nguyen", {"body": f"Trả lời: {r}."}),
        ("submit", "comms.nguyen", {}),
        ("approve_review", "review.le", {}),
        ("approve_release", "spoke.tran", {}),
        ("release", "spoke.tran", {"form": "written_answer"}),
        ("report", "comms.nguyen", {}),
    ]


_REFUSE_PRESS: Final[list[Step]] = [
    ("triage", "coord.bui", {}),
    (
        "refuse",
        "spoke.tran",
        {
            "ground": "criminal_case_pending",
            "reasons": "Vụ việc đang được cơ quan điều tra thụ lý (Luật Báo chí Điều 38(2)).",
        },
    ),
    ("report", "spoke.tran", {}),
]

_REVISED_PRESS: Final[list[Step]] = [
    ("triage", "spoke.tran", {}),
    ("submit", "comms.nguyen", {}),
    ("approve_review", "review.le", {}),
    ("return_for_revision", "spoke.tran", {"reason": "Thiếu số liệu tháng 9."}),
    ("edit", "comms.nguyen", {"body": "Bản sửa có số liệu tháng 9."}),
    ("submit", "comms.nguyen", {}),
    ("approve_review", "review.le", {}),
    ("revoke_approval", "review.le", {"stage": "review", "reason": "Sai đơn vị."}),
]

_CASES: Final[list[tuple[RequestKind, str, str, str, list[Step]]]] = [
    (
        RequestKind.PRESS_INQUIRY,
        HEALTH + "/ttyt-hoavang",
        "coord.bui",
        "Tiến độ tiêm chủng mở rộng",
        _press("tỷ lệ tiêm chủng đạt 96,2%"),
    ),
    (
        RequestKind.PRESS_INQUIRY,
        HEALTH + "/bv-dakhoa",
        "coord.bui",
        "Vụ ngộ độc thực phẩm tại trường học",
        _REFUSE_PRESS,
    ),
    (
        RequestKind.PRESS_INQUIRY,
        HEALTH,
        "comms.nguyen",
        "Kế hoạch phòng chống sốt xuất huyết",
        _REVISED_PRESS,
    ),
    (
        RequestKind.INCIDENT_STATEMENT,
        HEALTH + "/bv-dakhoa",
        "spoke.tran",
        "Sự cố mất điện tại bệnh viện",
        [
            ("triage", "spoke.tran", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_urgent", "head.pham", {"reason": "Cần thông tin ngay."}),
            ("release", "head.pham", {"form": "press_conference"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    (
        RequestKind.PERIODIC_RELEASE,
        HEALTH,
        "comms.nguyen",
        "Thông tin định kỳ tháng",
        [
            ("start_drafting", "comms.nguyen", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "press_conference"}),
        ],
    ),
    (
        RequestKind.CORRECTION_REQUEST,
        HEALTH,
        "comms.nguyen",
        "Cải chính bài viết về giá thuốc",
        [
            ("verify", "comms.nguyen", {"findings": "Giá đăng sai gấp 10 lần."}),
            ("draft_letter", "comms.nguyen", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "correction_letter"}),
            ("confirm_published", "comms.nguyen", {"publication": "Báo ĐN, số 112"}),
        ],
    ),
    (
        RequestKind.FAKE_NEWS_RESPONSE,
        INFO,
        "comms.trinh",
        "Tin giả về nước máy nhiễm độc",
        [
            ("assess", "comms.trinh", {}),
            ("respond", "spoke.lam", {"assessment": "Sai sự thật, lan truyền rộng."}),
            ("submit", "comms.trinh", {}),
            ("approve_review", "review.phan", {}),
            ("approve_release", "head.dinh", {}),
            ("release", "spoke.lam", {"form": "portal_posting"}),
        ],
    ),
    (
        RequestKind.CITIZEN_INFO_REQUEST,
        HEALTH,
        "focal.ho",
        "Yêu cầu cung cấp danh sách cơ sở đủ điều kiện",
        [
            ("register", "focal.ho", {}),
            ("assess", "focal.ho", {"complexity": "simple"}),
            ("prepare", "focal.ho", {}),
            ("submit", "focal.ho", {}),
            ("approve_review", "review.le", {}),
            ("approve_provision", "head.pham", {}),
            ("release", "head.pham", {"form": "information_provided"}),
        ],
    ),
    (
        RequestKind.CITIZEN_INFO_REQUEST,
        HEALTH,
        "focal.ho",
        "Yêu cầu thông tin hồ sơ bệnh án của người khác",
        [
            ("register", "focal.ho", {}),
            (
                "refuse",
                "head.pham",
                {
                    "ground": "a_inaccessible_or_conditions_unmet",
                    "reasons": "Thông tin bí mật đời tư (Luật TCTT Điều 6, 7).",
                },
            ),
        ],
    ),
    (
        RequestKind.DISCLOSURE_ITEM,
        INFO,
        "comms.trinh",
        "Công khai kế hoạch chuyển đổi số",
        [
            ("prepare", "comms.trinh", {}),
            ("submit", "comms.trinh", {}),
            ("approve_review", "review.phan", {}),
            ("approve_release", "spoke.lam", {}),
            ("release", "spoke.lam", {"form": "portal_posting"}),
        ],
    ),
    (
        RequestKind.DISCLOSURE_CORRECTION_PROPOSAL,
        INFO,
        "focal.cao",
        "Đề nghị đính chính số liệu đã công khai",
        [
            ("start_check", "focal.cao", {}),
            ("draft_reply", "focal.cao", {"finding": "Số liệu đúng."}),
            ("submit", "focal.cao", {}),
            ("approve_review", "review.phan", {}),
            ("approve_reply", "head.dinh", {}),
            ("release", "head.dinh", {"form": "written_answer"}),
        ],
    ),
    (
        RequestKind.POLICY_DRAFT_COMMS,
        INFO,
        "drafter.vu",
        "Truyền thông dự thảo quy định về dữ liệu mở",
        [
            ("comment", "comms.trinh", {"comments": "Cần giải thích thuật ngữ."}),
            ("advance", "drafter.vu", {}),
            ("skip", "head.dinh", {"reason": "Không có dự thảo lấy ý kiến."}),
            ("skip", "head.dinh", {"reason": "Bản cuối đã thống nhất."}),
            ("submit", "drafter.vu", {}),
            ("approve_review", "review.phan", {}),
            ("approve_release", "spoke.lam", {}),
            ("release", "spoke.lam", {"form": "portal_posting"}),
        ],
    ),
    (
        RequestKind.REPORT_REQUEST,
        HEALTH,
        "comms.nguyen",
        "Báo cáo công tác phát ngôn quý",
        [
            ("start_drafting", "comms.nguyen", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_report", "head.pham", {}),
            ("release", "head.pham", {"form": "report_submitted"}),
        ],
    ),
]


def _requester(kind: RequestKind) -> dict[str, Any] | None:
    if kind in (RequestKind.PRESS_INQUIRY, RequestKind.CORRECTION_REQUEST):
        return _JOURNALIST
    if kind in (
        RequestKind.CITIZEN_INFO_REQUEST,
        RequestKind.DISCLOSURE_CORRECTION_PROPOSAL,
    ):
        return _CITIZEN
    return None


def _play(
    flow: ReleaseFlow, request: Request, steps: list[Step], tick: Callable[[], None]
) -> None:
    for trigger, actor, payload in steps:
        tick()
        if trigger == "edit":
            request = flow.edit(request.id, actor=actor, **payload)
        elif trigger == "revoke_approval":
            request = flow.revoke_approval(request.id, actor=actor, **payload)
        else:
            request = flow.fire(request.id, trigger, actor=actor, **payload)


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        if day.weekday() < 5:
            yield day
        day += timedelta(days=1)


def seed(flow: ReleaseFlow, today: date, *, seed: int = 7) -> DemoSummary:
    """Seed an empty ``flow`` with the quarter up to ``today``; return a summary.

    The quarter runs from :func:`quarter_start`; when fewer than three weeks of it
    have passed, the story starts three weeks before ``today`` so that a legal
    deadline can already have been missed.
    """
    rng = random.Random(seed)
    start = min(quarter_start(today), today - timedelta(days=21))
    end = datetime.combine(today, time(10, 0), UTC)  # 17:00 in Vietnam
    opening = datetime.combine(start, time(1, 30), UTC)  # 08:30 in Vietnam
    clock = _Clock(opening, end, rng)
    saved = flow._clock
    flow._clock = clock
    summary = DemoSummary()
    try:
        flow.directory.bootstrap("admin", unit="danang")
        for actor, (role, unit) in STAFF.items():
            clock.tick(2)
            flow.directory.grant(actor, role, unit=unit, by="admin")
        clock.tick(30)
        forgotten = flow.create(
            RequestKind.CITIZEN_INFO_REQUEST,
            title="Yêu cầu cung cấp kết quả thanh tra an toàn thực phẩm",
            body="Đề nghị cung cấp kết luận thanh tra năm nay.",
            actor="focal.ho",
            unit=HEALTH,
            channel="post",
            requester=_CITIZEN,
        )
        flow.fire(forgotten.id, "register", actor="focal.ho")
        summary.missed_deadline = str(forgotten.id)
        summary.requests = 1
        summary.by_kind[forgotten.kind.value] = 1
        days = list(_days(start + timedelta(days=1), today)) or [today]
        for number, (kind, unit, author, title, steps) in enumerate(_CASES):
            day = days[min(len(days) - 1, number * len(days) // len(_CASES))]
            clock.now = max(clock.now, datetime.combine(day, time(2, 0), UTC))
            clock.now = min(clock.now, end)
            request = flow.create(
                kind,
                title=title,
                body=f"Bản nháp: {title}.",
                actor=author,
                unit=unit,
                channel="electronic",
                requester=_requester(kind),
            )
            if kind is RequestKind.CITIZEN_INFO_REQUEST and steps[-1][0] == "refuse":
                clock.tick(20)
                flow.classify(
                    request.id,
                    "restricted",
                    actor="head.pham",
                    reason="Hồ sơ bệnh án là bí mật đời tư.",
                    grounds=["a_inaccessible_or_conditions_unmet"],
                )
            _play(flow, request, steps, lambda: clock.tick(25))
            summary.requests += 1
            summary.by_kind[kind.value] = summary.by_kind.get(kind.value, 0) + 1
    finally:
        flow._clock = saved
    return summary
