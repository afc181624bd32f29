"""A host registers its own workflow: a health bulletin that two reviewers must pass.

The definition is plain data (here YAML). It is validated when loaded, compiled once,
and pinned: requests created under version 1 keep following version 1 even after the
host registers version 2.
"""

from __future__ import annotations

import releaseflow as rf

BULLETIN_V1 = """
name: health_bulletin
version: 1
description: Weekly health bulletin; two reviewers, then the spokesperson.
initial: drafting
release_requires: [review, spokesperson]
refusal_family: other
create_roles: [comms_officer]
editor_roles: [comms_officer]
editable_states: [drafting]
states:
  - {name: drafting}
  - {name: in_review}
  - {name: awaiting_spokesperson}
  - {name: approved}
  - {name: published}
  - {name: dropped}
  - {name: closed, final: true}
transitions:
  - {trigger: submit, source: drafting, dest: in_review, roles: [comms_officer]}
  - {trigger: review, source: in_review, dest: awaiting_spokesperson,
     action: approve, stage: review, quorum: 2, roles: [reviewer]}
  - {trigger: sign_off, source: awaiting_spokesperson, dest: approved,
     action: approve, stage: spokesperson, roles: [spokesperson]}
  - {trigger: send_back, source: [in_review, awaiting_spokesperson, approved],
     dest: drafting, action: revise, requires: [reason], roles: [reviewer, spokesperson]}
  - {trigger: publish, source: approved, dest: published, action: release,
     requires: [form], roles: [spokesperson]}
  - {trigger: drop, source: [drafting, in_review, awaiting_spokesperson], dest: dropped,
     action: refuse, requires: [ground, reasons], roles: [spokesperson]}
  - {trigger: withdraw, source: [drafting, in_review], dest: dropped,
     requires: [reason], roles: [comms_officer, spokesperson]}
  - {trigger: correct, source: published, dest: drafting, action: revise,
     requires: [reason], roles: [spokesperson]}
  - {trigger: report, source: [published, dropped], dest: closed, roles: [comms_officer]}
"""


def main() -> int:
    """Register the bulletin workflow and run one bulletin through it."""
    definition = rf.WorkflowDefinition.from_yaml(BULLETIN_V1)
    flow = rf.ReleaseFlow.open("memory://", definitions=[definition])
    flow.directory.bootstrap("admin", unit="ttyt")
    people = {
        "writer": rf.Role.COMMS_OFFICER,
        "rev.a": rf.Role.REVIEWER,
        "rev.b": rf.Role.REVIEWER,
        "spoke": rf.Role.SPOKESPERSON,
    }
    for actor, role in people.items():
        flow.directory.grant(actor, role, unit="ttyt", by="admin")

    bulletin = flow.create(
        rf.RequestKind.PERIODIC_RELEASE,
        definition="health_bulletin@1",
        title="Bản tin y tế tuần 48",
        body="Số ca sốt xuất huyết giảm 12% so với tuần trước.",
        actor="writer",
        unit="ttyt",
    )
    bulletin = flow.fire(bulletin.id, "submit", actor="writer")
    bulletin = flow.fire(bulletin.id, "review", actor="rev.a")
    print(f"after one review: {bulletin.state} (quorum is 2)")
    bulletin = flow.fire(bulletin.id, "review", actor="rev.b")
    print(f"after two reviews: {bulletin.state}")
    bulletin = flow.fire(bulletin.id, "sign_off", actor="spoke")
    bulletin = flow.fire(
        bulletin.id, "publish", actor="spoke", form=rf.ReleaseForm.PORTAL_POSTING
    )
    print(f"published as {bulletin.definition}@{bulletin.definition_version}")
    print(f"diagram: {len(rf.mermaid(definition).splitlines())} lines of Mermaid")
    return 0 if flow.audit.verify().ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
