"""The audit log's read side: history, verification, anchors (``flow.audit``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from uuid import UUID

from .chain import BadEntry, Replay, VerifyReport, make_anchor, verify_stream
from .models import Anchor, AuditEntry, ChainHead

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = ["AuditService"]


class AuditService:
    """Reads and verifies the audit log; available as ``flow.audit``."""

    def __init__(self, flow: ReleaseFlow) -> None:
        self._flow = flow

    def history(self, request_id: UUID | str) -> list[AuditEntry]:
        """Every entry of one request, oldest first."""
        rid = self._flow._request_id(request_id)
        with self._flow.store.unit_of_work(write=False) as uow:
            uow.requests.get(rid)
            return list(uow.audit.entries(request_id=rid))

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry in (ledger, seq) order (read in one transaction)."""
        with self._flow.store.unit_of_work(write=False) as uow:
            yield from uow.audit.entries()

    def heads(self) -> list[ChainHead]:
        """Every ledger's head."""
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.audit.heads()

    def anchor(self, *, key: bytes | None = None, key_id: str | None = None) -> Anchor:
        """Export the current heads as an anchor; store it outside the database.

        With ``key`` (held outside the database) the anchor carries an HMAC that a
        forger who rewrites the database cannot produce.
        """
        return make_anchor(self.heads(), self._flow.now(), key=key, key_id=key_id)

    def verify(
        self, *, anchor: Anchor | None = None, key: bytes | None = None
    ) -> VerifyReport:
        """Verify every ledger, the stored heads, replayed states, and ``anchor``.

        The report names the first bad entry (``report.first_bad``). Entries are
        streamed; memory grows only with the number of requests (for the replay).
        """
        replay = Replay()
        with self._flow.store.unit_of_work(write=False) as uow:
            heads = uow.audit.heads()

            def feed() -> Iterator[AuditEntry]:
                for entry in uow.audit.entries():
                    replay.feed(entry)
                    yield entry

            report = verify_stream(feed(), heads, anchor=anchor, key=key)
            for request in uow.requests.iter_all():
                self._compare(
                    request.id,
                    request.state,
                    request.version,
                    request.content_hash,
                    replay,
                    report,
                )
        return report

    def _compare(
        self,
        rid: UUID,
        state: str,
        version: int,
        content_hash: str,
        replay: Replay,
        report: VerifyReport,
    ) -> None:
        replayed = replay.requests.get(rid)
        problem: str | None
        if replayed is None:
            problem = "stored request has no audit entries"
        elif replayed.problem:
            problem = replayed.problem
        elif (replayed.state, replayed.version, replayed.content_hash) != (
            state,
            version,
            content_hash,
        ):
            problem = (
                f"stored state {state!r} v{version} disagrees with the audit replay"
                f" {replayed.state!r} v{replayed.version}"
            )
        else:
            return
        report.add(BadEntry(-1, version, rid, problem))
