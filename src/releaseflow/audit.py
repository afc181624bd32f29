"""The audit log's read side: history, verification, anchors (``flow.audit``).

Also queries (keyset pages, :mod:`releaseflow.queries`), explanations in words
(:mod:`releaseflow.explain`) and exports (:mod:`releaseflow.exports`). Queries and
exports made with ``actor=`` need the auditor or head role, are limited to the units
of those grants, and are themselves recorded (event ``read``).
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from .chain import (
    BadEntry,
    Replay,
    RowScan,
    VerifyReport,
    finish_report,
    ledger_for,
    make_anchor,
    scan_rows,
    verify_rows,
    verify_stream,
)
from .exceptions import NotPermittedError, RequestNotFoundError, ValidationError
from .explain import explain_entries
from .exports import ExportMeta, csv_lines, jsonl_lines
from .models import Anchor, AuditEntry, ChainHead, Request
from .ports import UnitOfWork
from .queries import (
    AuditCursor,
    AuditPage,
    AuditQuery,
    decode_cursor,
    encode_cursor,
    make_query,
    page_of_entries,
    select_page,
    validate_limit,
)
from .text import canonical_actor_id
from .trail import request_entries, trail_problem
from .vocabulary import AuditEvent, Role

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = ["MAX_WORKERS", "PARALLEL_FROM", "READER_ROLES", "AuditService"]

#: Roles that may read and export the audit log when a call names an actor.
READER_ROLES: Final = frozenset({Role.AUDITOR, Role.HEAD})
_EXPORT_PAGE: Final = 500
#: From this many entries ``verify()`` splits the ledgers over processes.
PARALLEL_FROM: Final = 200_000
#: The most processes ``verify()`` starts by itself.
MAX_WORKERS: Final = 4
_MAX_FORCED: Final = 64

Progress = Callable[[int], None]


class AuditService:
    """Reads and verifies the audit log; available as ``flow.audit``."""

    def __init__(self, flow: ReleaseFlow) -> None:
        self._flow = flow

    def history(self, request_id: UUID | str) -> list[AuditEntry]:
        """Every entry of one request, oldest first."""
        rid = self._flow._request_id(request_id)
        with self._single_read() as uow:
            found = request_entries(uow, rid)
        if found is None:
            raise RequestNotFoundError(rid)
        return found

    def _single_read(self) -> ContextManager[UnitOfWork]:
        """A read-only unit of work for a read that is one SELECT.

        The store's ``read_once`` (no transaction: the statement is its own
        snapshot) where it has one, else an ordinary read-only unit of work.
        """
        store = self._flow.store
        once = getattr(store, "read_once", None)
        if once is None:
            return store.unit_of_work(write=False)
        opened: ContextManager[UnitOfWork] = once()
        return opened

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
        self,
        *,
        anchor: Anchor | None = None,
        key: bytes | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Verify every ledger, the stored heads, replayed states, and ``anchor``.

        The report names the first bad entry (``report.first_bad``). Entries are
        streamed; memory grows only with the number of requests (for the replay).

        Ledgers are independent chains, so on a SQL store in a file or on a server
        a large log is verified by ``workers`` forked processes, each taking a
        contiguous range of ledgers (and the requests whose entries those ledgers
        hold) in its own read transaction; their findings are merged into the
        report one process gives, first bad entry included. ``workers=None``
        (default) does so from :data:`PARALLEL_FROM` entries, with up to
        :data:`MAX_WORKERS` processes, when ``fork`` is available and the caller
        runs no other threads; ``workers=1`` never forks. Each ledger, and each
        request against its ledger, is checked in one snapshot.

        Raises:
            ValidationError: ``workers`` is not an int from 1 to 64.
        """
        if workers is not None and (
            type(workers) is not int or not 1 <= workers <= _MAX_FORCED
        ):
            raise ValidationError(
                f"workers must be an integer from 1 to {_MAX_FORCED}",
                field="workers",
                rule="workers",
            )
        split = self._parallel_plan(workers)
        if split is not None:
            parallel = _verify_parallel(self, split, anchor, key)
            if parallel is not None:
                return parallel
        replay = Replay()
        with self._flow.store.unit_of_work(write=False) as uow:
            heads = uow.audit.heads()
            iter_raw = getattr(uow.audit, "iter_raw", None)
            iter_states = getattr(uow.requests, "iter_states", None)
            if iter_raw is not None and iter_states is not None:
                # the fast path: hash stored rows without building a model per entry
                report = verify_rows(
                    iter_raw(),
                    heads,
                    read_entry=uow.audit.raw_entry,  # type: ignore[attr-defined]
                    replay=replay,
                    anchor=anchor,
                    key=key,
                )
                for rid, state, version, digest, classification in iter_states():
                    self._compare_state(
                        rid, state, version, digest, classification, replay, report
                    )
                return report

            def feed() -> Iterator[AuditEntry]:
                for entry in uow.audit.entries():
                    replay.feed(entry)
                    yield entry

            report = verify_stream(feed(), heads, anchor=anchor, key=key)
            for request in uow.requests.iter_all():
                self._compare(request, replay, report)
        return report

    def _parallel_plan(self, workers: int | None) -> list[tuple[int, int]] | None:
        """The ledger ranges to verify in parallel, or None for one process."""
        if workers == 1:
            return None
        store = self._flow.store
        if (
            "fork" not in multiprocessing.get_all_start_methods()
            # only a SqlStore with its own connections to a file or a server:
            # not in-memory SQLite, not a store joined to a host's connection
            # (no ``memory`` attribute), not the in-memory store
            or getattr(store, "memory", True) is not False
            or threading.active_count() > 1
        ):
            return None
        with store.unit_of_work(write=False) as uow:
            if getattr(uow.audit, "request_states", None) is None:
                return None
            heads = uow.audit.heads()
        if workers is None:
            if sum(h.seq for h in heads) < PARALLEL_FROM:
                return None
            workers = min(os.cpu_count() or 1, MAX_WORKERS)
        count = len(heads)
        workers = min(workers, count)
        if workers < 2:
            return None
        bounds = [count * i // workers for i in range(workers + 1)]
        return [(bounds[i], bounds[i + 1] - 1) for i in range(workers)]

    def _verify_part(self, ledgers: tuple[int, int], anchored: dict[int, int]) -> _Part:
        """One worker's share: its ledgers' rows and heads, and their requests."""
        replay = Replay()
        lo, hi = ledgers
        with self._flow.store.unit_of_work(write=False) as uow:
            audit: Any = uow.audit
            heads = [h for h in audit.heads() if lo <= h.ledger <= hi]
            scan = scan_rows(
                audit.iter_raw(ledgers=ledgers),
                read_entry=audit.raw_entry,
                replay=replay,
                anchored=anchored,
            )
            found: list[tuple[str, BadEntry]] = []
            held = replay.raw_states()
            seen = 0  # this worker's requests that its ledgers' entries replayed
            for rid, state, version, digest, classification in audit.request_states(
                ledgers
            ):
                raw = held.get(rid) if held is not None else None
                seen += raw is not None
                if (
                    raw is not None
                    and not raw[4]  # trail_problem's checks, in its order
                    and raw[0] == state
                    and raw[1] == version
                    and raw[2] == digest
                    and raw[3] == classification
                ):
                    continue  # agrees: trail_problem would find nothing
                one = VerifyReport()
                self._compare_state(
                    UUID(rid), state, version, digest, classification, replay, one
                )
                found += [(rid, p) for p in one.problems]
            keys = list(held) if held is not None else [str(r) for r in replay.requests]
            foreign = False
            if seen != len(keys):  # a clean chain replays exactly its own requests
                count = audit.ledger_count
                foreign = any(
                    not lo <= ledger_for(k, count) <= hi and _stored(uow, k)
                    for k in keys
                )
        return _Part(scan=scan, heads=heads, request_problems=found, foreign=foreign)

    def _compare(self, request: Request, replay: Replay, report: VerifyReport) -> None:
        self._compare_state(
            request.id,
            request.state,
            request.version,
            request.content_hash,
            request.classification.value,
            replay,
            report,
        )

    def _compare_state(
        self,
        rid: UUID,
        state: str,
        version: int,
        content_hash: str,
        classification: str,
        replay: Replay,
        report: VerifyReport,
    ) -> None:
        problem = trail_problem(
            replay.replayed(rid),
            state=state,
            version=version,
            content_hash=content_hash,
            classification=classification,
        )
        if problem is None:
            return
        report.add(BadEntry(-1, version, rid, problem))

    # -- queries ----------------------------------------------------------------

    def query(
        self,
        query: AuditQuery | None = None,
        *,
        by: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        **filters: Any,
    ) -> AuditPage:
        """One page of entries matching the filters, and the cursor of the next.

        Filters (keyword arguments, or an :class:`~releaseflow.queries.AuditQuery`):
        ``request_id, kind, actor, role, trigger, event, from_state, to_state,
        ground, unit, include_subunits, since, until, order`` (``"time"`` or
        ``"sequence"``). Pass ``cursor=page.next_cursor`` for the next page; it is
        None after the last. With ``by`` (the reader's actor id) the reader must
        hold the auditor or head role, results are limited to the units of those
        grants, and the read is recorded (event ``read``). ``actor`` is a filter
        (who acted), not the reader.

        Raises:
            ValidationError: an unknown filter, a bad value, a naive datetime, a
                limit outside 1..1000 or a malformed cursor.
            NotPermittedError: ``by`` may not read the audit log.
        """
        if query is not None and filters:
            raise ValidationError(
                "pass an AuditQuery or keyword filters, not both", rule="query"
            )
        q = query if query is not None else make_query(filters)
        size = validate_limit(limit)
        if by is None:
            after = decode_cursor(cursor, q) if cursor is not None else None
            with self._single_read() as uow:
                found = _fetch(uow, q, after, size + 1)
                exact = getattr(uow.audit, "exact_entries", False) is True
            return _page(found, q, size, exact=exact)
        who = canonical_actor_id(by, field="by")
        with self._flow.store.unit_of_work() as uow:
            q, roles = self._authorise_or_record(uow, who, q, "query")
            after = decode_cursor(cursor, q) if cursor is not None else None
            found = _fetch(uow, q, after, size + 1)
            exact = getattr(uow.audit, "exact_entries", False) is True
            page = _page(found, q, size, exact=exact)
            self._record_read(
                uow,
                who,
                roles,
                q,
                {"operation": "query", "returned": len(page.entries)},
            )
            self._flow._commit(uow)
        return page

    def explain(self, request_id: UUID | str) -> list[str]:
        """One request's trail in words: who did what, under which role and rule.

        Each line starts with the UTC time; approvals name the stage and content,
        releases the form and the approvals that opened the release gate, refusals
        the legal ground and reasons; classification changes, revocations, edits
        and deadline changes are included.
        """

        def lookup(key: str, state: str, trigger: str) -> Any:
            name, _, version = key.partition("@")
            compiled = self._flow.definitions.get(
                name, int(version) if version.isdigit() else None
            )
            return compiled.definition.transition(state, trigger)

        return explain_entries(self.history(request_id), lookup)

    # -- exports ----------------------------------------------------------------

    def export_jsonl(
        self,
        query: AuditQuery | None = None,
        *,
        by: str | None = None,
        key: bytes | None = None,
        key_id: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> Iterator[str]:
        """Export matching entries as JSON Lines (see :mod:`releaseflow.exports`).

        ``by`` is the reader, as for :meth:`query`. Permission is checked and the
        heads are taken now; the returned iterator then streams the lines page by
        page. With ``key`` the header's anchor
        carries an HMAC. ``progress`` is called with the running entry count.
        """
        meta, entries = self._export(query, by, key, key_id, filters, progress)
        return jsonl_lines(meta, entries)

    def export_csv(
        self,
        query: AuditQuery | None = None,
        *,
        by: str | None = None,
        key: bytes | None = None,
        key_id: str | None = None,
        progress: Progress | None = None,
        **filters: Any,
    ) -> Iterator[str]:
        """Export matching entries as CSV (UTF-8 with BOM; formula cells neutralised).

        Same arguments as :meth:`export_jsonl`; the heads are in the final
        ``#export`` row.
        """
        meta, entries = self._export(query, by, key, key_id, filters, progress)
        return csv_lines(meta, entries)

    def _export(
        self,
        query: AuditQuery | None,
        by: str | None,
        key: bytes | None,
        key_id: str | None,
        filters: dict[str, Any],
        progress: Progress | None,
    ) -> tuple[ExportMeta, Iterator[AuditEntry]]:
        if query is not None and filters:
            raise ValidationError(
                "pass an AuditQuery or keyword filters, not both", rule="query"
            )
        q = query if query is not None else make_query(filters)
        who = canonical_actor_id(by, field="by") if by is not None else None
        with self._flow.store.unit_of_work(write=who is not None) as uow:
            heads = uow.audit.heads()
            if who is not None:
                q, roles = self._authorise_or_record(uow, who, q, "export")
                self._record_read(
                    uow, who, roles, q, {"operation": "export", "heads": len(heads)}
                )
                self._flow._commit(uow)
        anchor = make_anchor(heads, self._flow.now(), key=key, key_id=key_id)
        meta = ExportMeta(
            anchor=anchor, query=q.model_dump(mode="json", exclude_none=True), actor=who
        )
        return meta, self._snapshot(q, {h.ledger: h.seq for h in heads}, progress)

    def _snapshot(
        self, q: AuditQuery, upto: dict[int, int], progress: Progress | None
    ) -> Iterator[AuditEntry]:
        after: AuditCursor | None = None
        count = 0
        while True:
            with self._flow.store.unit_of_work(write=False) as uow:
                found = _fetch(uow, q, after, _EXPORT_PAGE)
            for entry in found:
                if entry.seq <= upto.get(entry.ledger, 0):
                    count += 1
                    yield entry
            if progress is not None:
                progress(count)
            if len(found) < _EXPORT_PAGE:
                return
            last = found[-1]
            after = AuditCursor(at=last.at, ledger=last.ledger, seq=last.seq)

    # -- read access ------------------------------------------------------------

    def _authorise_or_record(
        self, uow: UnitOfWork, actor: str, q: AuditQuery, operation: str
    ) -> tuple[AuditQuery, tuple[str, ...]]:
        """:meth:`_authorise`; a refusal is itself recorded (``read_refused``).

        The refused attempt is committed before ``NotPermittedError`` propagates,
        so an attempt to read the log without the right leaves a trace in it.
        """
        try:
            return self._authorise(uow, actor, q)
        except NotPermittedError as refused:
            self._record_refusal(uow, actor, q, operation, refused)
            self._flow._commit(uow)
            raise

    def _record_refusal(
        self,
        uow: UnitOfWork,
        actor: str,
        q: AuditQuery,
        operation: str,
        refused: NotPermittedError,
    ) -> AuditEntry:
        from .directory import append_directory_entry

        provider = self._flow._role_provider
        if provider is not None:
            held = (
                sorted(
                    {
                        str(getattr(r, "value", r))
                        for r in provider.roles_for(actor, q.unit)
                    }
                )
                if q.unit is not None
                else []
            )
        else:
            held = sorted({g.role.value for g in uow.directory.grants(actor=actor)})
        return append_directory_entry(
            uow,
            event=AuditEvent.READ_REFUSED,
            actor=actor,
            roles=tuple(held),
            payload={
                "operation": operation,
                "reason": str(refused),
                "query": q.model_dump(mode="json", exclude_none=True),
            },
            unit=q.unit,
            at=self._flow.now(),
            trigger=f"audit_{operation}",
        )

    def _authorise(
        self, uow: UnitOfWork, actor: str, q: AuditQuery
    ) -> tuple[AuditQuery, tuple[str, ...]]:
        """The query limited to the actor's readable units, and the roles used.

        Refused (``NotPermittedError``) without an auditor or head grant, and when
        the query names a unit none of those grants reaches (neither inside a
        granted unit nor, with subunits, containing one).
        """
        denied = NotPermittedError(
            "reading the audit log needs the auditor or head role",
            actor=actor,
            trigger="audit_read",
        )
        provider = self._flow._role_provider
        if provider is not None:
            if q.unit is None:
                raise NotPermittedError(
                    "with a host role provider an audited read must name a unit",
                    actor=actor,
                    trigger="audit_read",
                )
            held = {Role(r) for r in provider.roles_for(actor, q.unit)} & READER_ROLES
            if not held:
                raise denied
            units: tuple[str, ...] = (q.unit,)
        else:
            uow.directory.lock()
            grants = [
                g for g in uow.directory.grants(actor=actor) if g.role in READER_ROLES
            ]
            if not grants:
                raise denied
            held = {g.role for g in grants}
            units = tuple(sorted({g.unit for g in grants}))
            if q.unit is not None and not any(
                _reaches(unit, q.unit, q.include_subunits) for unit in units
            ):
                raise NotPermittedError(
                    f"the reader's auditor/head grants do not reach unit {q.unit!r}",
                    actor=actor,
                    trigger="audit_read",
                )
        roles = tuple(sorted(r.value for r in held))
        return q.model_copy(update={"scope": units}), roles

    def _record_read(
        self,
        uow: UnitOfWork,
        actor: str,
        roles: tuple[str, ...],
        q: AuditQuery,
        details: dict[str, Any],
    ) -> AuditEntry:
        from .directory import append_directory_entry

        return append_directory_entry(
            uow,
            event=AuditEvent.READ,
            actor=actor,
            roles=roles,
            payload={**details, "query": q.model_dump(mode="json", exclude_none=True)},
            unit=q.unit,
            at=self._flow.now(),
            trigger=f"audit_{details['operation']}",
        )


def _reaches(granted: str, asked: str, subunits: bool) -> bool:
    """Whether a grant at ``granted`` can see any entry of the unit ``asked``."""
    if asked == granted or asked.startswith(granted + "/"):
        return True
    return subunits and granted.startswith(asked + "/")


@dataclass
class _Part:
    scan: RowScan
    heads: list[ChainHead]
    request_problems: list[tuple[str, BadEntry]]
    foreign: bool = False
    """Entries of these ledgers replayed a stored request another worker owns."""


def _stored(uow: UnitOfWork, key: str) -> bool:
    """Whether replay key ``key`` is a stored request's id (as verify compares it)."""
    try:
        rid = UUID(key)
    except ValueError:
        return False
    if str(rid) != key:  # verify looks a request up by its canonical id only
        return False
    try:
        uow.requests.get(rid)
    except RequestNotFoundError:
        return False
    return True


# The service a forked worker works for: set just before the pool forks, so the
# child inherits it (with the store, whose pool check_fork() then replaces).
_forked: AuditService | None = None


def _run_part(ledgers: tuple[int, int], anchored: dict[int, int]) -> _Part:
    service = _forked
    assert service is not None  # set by _verify_parallel before forking
    # The scan makes no reference cycles, but its fetched rows would set off
    # collector passes over everything the child inherited: about 8 % of its time.
    gc.disable()
    try:
        return service._verify_part(ledgers, anchored)
    finally:
        gc.enable()
        dispose = getattr(getattr(service._flow.store, "engine", None), "dispose", None)
        if dispose is not None:
            dispose()  # this child's own connections


def _verify_parallel(
    service: AuditService,
    split: list[tuple[int, int]],
    anchor: Anchor | None,
    key: bytes | None,
) -> VerifyReport | None:
    """Verify the ledger ranges in forked workers, merged into one report.

    None if any worker failed: the caller then verifies in one process, which
    raises what there is to raise.
    """
    global _forked
    anchored = {h.ledger: h.seq for h in anchor.heads} if anchor else {}
    _forked = service
    try:
        with ProcessPoolExecutor(
            max_workers=len(split), mp_context=multiprocessing.get_context("fork")
        ) as pool:
            parts = list(pool.map(_run_part, split, [anchored] * len(split)))
    except Exception:  # any failure: redo it in one process
        return None
    finally:
        _forked = None
    if any(p.foreign for p in parts):
        # An entry names a request of another worker's ledgers (a request_id edited
        # behind the library's back): that request's replay spans workers, which
        # only the whole log gives, every spelling of its id included. Only an
        # edited log gets here, so its one-process report is taken as it stands.
        return service.verify(anchor=anchor, key=key, workers=1)
    report = finish_report(
        [p.scan for p in parts],
        [h for p in parts for h in p.heads],
        anchor=anchor,
        key=key,
    )
    # iter_states order (by id) across the workers' id-ordered lists
    for _, problem in heapq.merge(*(p.request_problems for p in parts)):
        report.add(problem)
    return report


def _fetch(
    uow: UnitOfWork, q: AuditQuery, after: AuditCursor | None, limit: int
) -> list[AuditEntry]:
    """A page from the backend's ``query``, or a bounded scan where it has none."""
    finder = getattr(uow.audit, "query", None)
    if finder is None:  # a backend written before AuditLog.query existed
        return select_page(uow.audit.entries(), q, after=after, limit=limit)
    found: list[AuditEntry] = finder(q, after=after, limit=limit)
    return found


def _page(
    found: list[AuditEntry], q: AuditQuery, size: int, *, exact: bool = False
) -> AuditPage:
    """The page of ``found`` (``size + 1`` asked for: the extra one means more).

    ``exact``: the backend's ``query`` answers a fresh list of ``AuditEntry``
    instances (its ``exact_entries``), so the page is built without validating
    them again (:func:`~releaseflow.queries.page_of_entries`).
    """
    cursor = None
    if len(found) > size:
        found = found[:size]
        cursor = encode_cursor(found[size - 1], q)
    if exact:
        return page_of_entries(found, cursor)
    return AuditPage(entries=found, next_cursor=cursor)
