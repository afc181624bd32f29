"""The domain's closed vocabularies: request kinds, roles, channels, forms, grounds.

Each enum value is stored as text, so values never change once released. Legal
references follow ``../shared/domain.md``; where the law was not confirmed the value is
still offered but its meaning is set by the agency's own regulation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "REFUSAL_GROUNDS_BY_FAMILY",
    "AuditEvent",
    "Channel",
    "Classification",
    "PolicyStage",
    "RefusalFamily",
    "RefusalGround",
    "ReleaseForm",
    "RequestKind",
    "RequesterType",
    "Role",
]


class RequestKind(StrEnum):
    """What a request is (domain.md §8.1)."""

    PRESS_INQUIRY = "press_inquiry"
    """A journalist or press agency asks for a statement (Decree 09 Art. 4(3)-(5))."""
    INCIDENT_STATEMENT = "incident_statement"
    """Unscheduled statement on an event with large social impact (Decree 09 Art. 6)."""
    PERIODIC_RELEASE = "periodic_release"
    """Monthly information or quarterly press conference (Decree 09 Art. 5)."""
    CORRECTION_REQUEST = "correction_request"
    """Ask a press agency to publish a correction (Decree 09 Art. 4(6), 9(2))."""
    FAKE_NEWS_RESPONSE = "fake_news_response"
    """Counter false or harmful information (Directive 07, task 5)."""
    CITIZEN_INFO_REQUEST = "citizen_info_request"
    """A citizen's request under the Law on Access to Information (Art. 23-31)."""
    DISCLOSURE_ITEM = "disclosure_item"
    """Proactive publication (LATI Art. 17-19)."""
    DISCLOSURE_CORRECTION_PROPOSAL = "disclosure_correction_proposal"
    """A citizen's proposal to correct disclosed information (amended LATI Art. 22)."""
    POLICY_DRAFT_COMMS = "policy_draft_comms"
    """Communication and comments on a draft policy (Directive 07; Decision 407)."""
    REPORT_REQUEST = "report_request"
    """A periodic or ad-hoc report to a superior body (seed letter point 9)."""


class Role(StrEnum):
    """Roles an actor may hold within an organisation unit (domain.md §8.2)."""

    HEAD = "head"
    """Head of the agency; the default spokesperson (Decree 09 Art. 3)."""
    DEPUTY_HEAD = "deputy_head"
    """Deputy head; may be authorised to speak (Decree 09 Art. 3(2))."""
    SPOKESPERSON = "spokesperson"
    """Assigned to speak to the press regularly (Decree 09 Art. 3(1)(b))."""
    AUTHORISED_SPEAKER = "authorised_speaker"
    """May speak only under an active, per-case, written authorisation."""
    COORDINATING_OFFICER = "coordinating_officer"
    """Supports the spokesperson on specific matters (Art. 3(1)(c))."""
    COMMS_OFFICER = "comms_officer"
    """Policy-communication staff (Directive 07); drafts and comments."""
    REVIEWER = "reviewer"
    """Reviews drafts before they reach the spokesperson."""
    INFO_FOCAL_UNIT = "info_focal_unit"
    """Focal point for access-to-information requests (Decree 13/2018 Art. 8)."""
    CONTRIBUTOR = "contributor"
    """An internal unit required to supply information (Decree 09 Art. 8(2))."""
    DRAFTING_UNIT = "drafting_unit"
    """Leads a legal document's drafting (Decision 407)."""
    AUDITOR = "auditor"
    """May read and export the audit log."""
    ADMINISTRATOR = "administrator"
    """Manages role grants; holds no release powers."""


class PolicyStage(StrEnum):
    """A stage of the policy lifecycle (seed letter point 4; domain.md §8.3).

    Plan items name the stage they communicate; the comms unit's comments on a
    policy draft name the stage the draft was at.
    """

    PLANNING = "planning"
    DRAFTING = "drafting"
    FINALISING = "finalising"
    ISSUING = "issuing"
    IMPLEMENTING = "implementing"


class RequesterType(StrEnum):
    """Who asked (domain.md §8.2, external parties)."""

    JOURNALIST = "journalist"
    PRESS_AGENCY = "press_agency"
    CITIZEN = "citizen"
    SUPERIOR_AGENCY = "superior_agency"
    PRESS_AUTHORITY = "press_authority"
    INTERNAL = "internal"


class Channel(StrEnum):
    """How a request arrived (LATI Art. 24; press contact channels)."""

    IN_PERSON = "in_person"
    POST = "post"
    FAX = "fax"
    ELECTRONIC = "electronic"
    PHONE = "phone"
    PRESS_BRIEFING = "press_briefing"
    MONITORING = "monitoring"
    """Found by the agency itself (media or social-network monitoring)."""
    INTERNAL = "internal"


class ReleaseForm(StrEnum):
    """The six forms of release to the press (Decree 09 Art. 4), plus LATI delivery."""

    PRESS_CONFERENCE = "press_conference"
    PORTAL_POSTING = "portal_posting"
    DIRECT_STATEMENT = "direct_statement"
    WRITTEN_ANSWER = "written_answer"
    PRESS_BRIEFING = "press_briefing"
    CORRECTION_LETTER = "correction_letter"
    INFORMATION_PROVIDED = "information_provided"
    """Information provided to a citizen under LATI (form 03)."""
    REPORT_SUBMITTED = "report_submitted"
    """A report sent to a superior body."""


class Classification(StrEnum):
    """Whether the content may leave the agency (the release gate reads this)."""

    PUBLIC = "public"
    """Releasable."""
    CONSENT_REQUIRED = "consent_required"
    """LATI Art. 7: releasable only after consent or the head's public-interest override."""
    RESTRICTED = "restricted"
    """A refusal ground applies (Press Law Art. 38(2), LATI Art. 6): never releasable."""


class RefusalFamily(StrEnum):
    """Which law's list of refusal grounds applies."""

    PRESS = "press"
    """Decree 09 Art. 8(3) -> Press Law 2016 Art. 38(2)."""
    ACCESS_TO_INFORMATION = "access_to_information"
    """Law on Access to Information Art. 28(1)."""
    OTHER = "other"
    """Agency-level reasons where neither list applies."""


class RefusalGround(StrEnum):
    """Legal grounds for refusing to release (domain.md §8.5)."""

    STATE_OR_PARTY_SECRET_OR_PRIVACY = "state_or_party_secret_or_privacy"
    CRIMINAL_CASE_PENDING = "criminal_case_pending"
    INSPECTION_COMPLAINT_DISPUTE_PENDING = "inspection_complaint_dispute_pending"
    DRAFT_POLICY_NOT_RELEASABLE = "draft_policy_not_releasable"
    A_INACCESSIBLE_OR_CONDITIONS_UNMET = "a_inaccessible_or_conditions_unmet"
    B_ALREADY_PUBLISHED = "b_already_published"
    C_NOT_OUR_RESPONSIBILITY = "c_not_our_responsibility"
    D_PROVIDED_TWICE = "d_provided_twice"
    DD_BEYOND_CAPACITY = "dd_beyond_capacity"
    E_COSTS_UNPAID = "e_costs_unpaid"
    OUT_OF_SCOPE = "out_of_scope"
    """Agency-level: the matter is not the agency's to speak on."""


REFUSAL_GROUNDS_BY_FAMILY: Final[dict[RefusalFamily, frozenset[RefusalGround]]] = {
    RefusalFamily.PRESS: frozenset(
        {
            RefusalGround.STATE_OR_PARTY_SECRET_OR_PRIVACY,
            RefusalGround.CRIMINAL_CASE_PENDING,
            RefusalGround.INSPECTION_COMPLAINT_DISPUTE_PENDING,
            RefusalGround.DRAFT_POLICY_NOT_RELEASABLE,
        }
    ),
    RefusalFamily.ACCESS_TO_INFORMATION: frozenset(
        {
            RefusalGround.A_INACCESSIBLE_OR_CONDITIONS_UNMET,
            RefusalGround.B_ALREADY_PUBLISHED,
            RefusalGround.C_NOT_OUR_RESPONSIBILITY,
            RefusalGround.D_PROVIDED_TWICE,
            RefusalGround.DD_BEYOND_CAPACITY,
            RefusalGround.E_COSTS_UNPAID,
        }
    ),
    RefusalFamily.OTHER: frozenset({RefusalGround.OUT_OF_SCOPE}),
}


class AuditEvent(StrEnum):
    """What an audit entry records."""

    CREATED = "created"
    TRANSITIONED = "transitioned"
    APPROVED = "approved"
    APPROVAL_REVOKED = "approval_revoked"
    EDITED = "edited"
    CLASSIFIED = "classified"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    AUTHORISED = "authorised"
    AUTHORISATION_REVOKED = "authorisation_revoked"
    READ = "read"
    """Someone read or exported the audit log."""
    READ_REFUSED = "read_refused"
    """Someone tried to read or export the audit log without the right to."""
    CALENDAR_CHANGED = "calendar_changed"
    """A working-day override was added at run time."""
    DEADLINES_RECOMPUTED = "deadlines_recomputed"
    """A calendar change moved a request's open deadlines."""
    PLAN_CHANGED = "plan_changed"
    """An annual communication plan changed (``trigger`` names the change)."""
    MEDIA_CHANGED = "media_changed"
    """A press contact or a commissioned task changed (``trigger`` names it)."""
    DRAFT_COMMENTED = "draft_commented"
    """The comms unit commented on a policy draft (the request's version moves on;
    its state does not)."""
