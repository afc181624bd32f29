"""A journalist's question answered through the full lifecycle by four people.

Run it with ``make demo`` (a SQLite file in a temporary folder) or
``python examples/press_inquiry.py --db URL`` for another database. It prints the
request's audit trail, verifies the hash chain, and checks it against an anchor.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import releaseflow as rf

STAFF = {
    "coord.bui": rf.Role.COORDINATING_OFFICER,  # logs and triages the question
    "comms.nguyen": rf.Role.COMMS_OFFICER,  # drafts the answer
    "review.le": rf.Role.REVIEWER,  # checks it
    "spoke.tran": rf.Role.SPOKESPERSON,  # approves and releases it
}


def run(flow: rf.ReleaseFlow) -> rf.VerifyReport:
    """Answer one press inquiry and return the audit verification report."""
    flow.directory.bootstrap("admin", unit="danang/soyte")
    for actor, role in STAFF.items():
        flow.directory.grant(actor, role, unit="danang/soyte", by="admin")

    request = flow.create(
        rf.RequestKind.PRESS_INQUIRY,
        title="Tiến độ tiêm chủng mở rộng quý III",
        body="Phóng viên hỏi về tỷ lệ tiêm chủng của trẻ dưới 1 tuổi.",
        actor="coord.bui",
        unit="danang/soyte/ttyt-hoavang",
        channel=rf.Channel.ELECTRONIC,
        requester=rf.Requester(
            type=rf.RequesterType.JOURNALIST,
            name="Hoàng Thị E",
            organisation="Báo Đà Nẵng",
        ),
    )
    request = flow.fire(request.id, "triage", actor="coord.bui")
    request = flow.edit(
        request.id,
        actor="comms.nguyen",
        body="Tỷ lệ tiêm chủng đầy đủ cho trẻ dưới 1 tuổi đạt 96,2% (số liệu 30/9).",
        expected_version=request.version,
    )
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="review.le")
    print("What may the spokesperson do now?")
    for option in flow.available_triggers(request.id, "spoke.tran"):
        if option.allowed:
            print(f"  {option.trigger} -> {option.dest}")
    request = flow.fire(request.id, "approve_release", actor="spoke.tran")
    request = flow.fire(
        request.id, "release", actor="spoke.tran", form=rf.ReleaseForm.WRITTEN_ANSWER
    )
    request = flow.fire(request.id, "report", actor="comms.nguyen")

    print(f"\nRequest {request.id} is {request.state} at version {request.version}")
    print("Audit trail:")
    for entry in flow.audit.history(request.id):
        roles = ",".join(entry.roles)
        print(
            f"  v{entry.request_version:<3} {entry.at:%Y-%m-%d %H:%M:%S} {entry.event.value:<12}"
            f" {entry.from_state or '-':>22} -> {entry.to_state:<22}"
            f" {entry.actor} ({roles}) {entry.hash[:12]}"
        )
    anchor = flow.audit.anchor(key=b"kept-outside-the-database", key_id="demo")
    report = flow.audit.verify(anchor=anchor, key=b"kept-outside-the-database")
    print(f"\nAudit chain verified: {report.ok} ({report.entries_checked} entries)")
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the example on ``--db`` (default: a SQLite file in a temporary folder)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="releaseflow-demo-") as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'agency.db'}"
        flow = rf.ReleaseFlow.open(url)
        try:
            report = run(flow)
        finally:
            flow.close()
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
