"""In-process caches of a SQL store, filled only from committed units of work.

* Ledger heads: the last ``(seq, hash)`` of each ledger this process committed or
  saw committed. Used only inside the compare-and-set on the head row, so a stale
  or wrong head can never be written: it matches no row.
* Requests: the last committed version of recently written requests. A transition
  called with ``expected_version`` may start from the cached request at that
  version instead of reading it: versions only grow, one compare-and-set at a time,
  so a committed (id, version) names one document, and the compare-and-set on
  ``version`` refuses the write if the row has moved on.
* A directory snapshot: grants (per actor) and the set of actors holding any
  speaking authorisation, read while the directory version row was locked at
  version *v*. Every change to grants or authorisations bumps the version in the
  same transaction, so rows read at *v* are the rows of *v*; a decision reads (and
  share-locks) the version row and uses the snapshot only if it shows *v*, or
  guesses *v* and writes only through a compare-and-set that matches (and, on
  PostgreSQL, share-locks) the version row at *v*.

A unit of work collects what it reads and writes and hands it to
:meth:`StoreCaches.publish` only after its own COMMIT succeeded; a rollback, a
failed commit or a host-owned (joined) transaction publishes nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

from ...models import Grant, Request

__all__ = ["DirectorySnapshot", "StoreCaches"]


class DirectorySnapshot:
    """Directory rows read at one directory version (filled lazily, per actor).

    Every change to grants or authorisations bumps the version in the same
    transaction (``SqlDirectory`` bumps it itself if the caller did not), so rows
    read while the version row shows ``version`` are the rows of that version.
    """

    __slots__ = ("auth_actors", "grants", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.grants: dict[str, tuple[Grant, ...]] = {}
        self.auth_actors: frozenset[str] | None = None

    def merge(self, other: DirectorySnapshot) -> None:
        """Take in what ``other`` (same version) has read."""
        self.grants.update(other.grants)
        if other.auth_actors is not None:
            self.auth_actors = other.auth_actors


class StoreCaches:
    """What committed units of work read, kept for the next ones (thread-safe).

    Nothing here is trusted blindly: a cached head is used only inside a
    compare-and-set on the head row, and a directory snapshot only while the
    share-locked version row still shows its version.
    """

    #: How many requests the request cache keeps (least recently written dropped).
    REQUESTS = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: OrderedDict[str, Request] = OrderedDict()
        self._heads: dict[int, tuple[int, str]] = {}
        self._directory: DirectorySnapshot | None = None
        self.head_misses = 0.0
        """Moving average of cached heads found stale (0.0: always fresh)."""

    def request(self, request_id: str, version: int) -> Request | None:
        """The committed request ``request_id`` at ``version``, if cached."""
        found = self._requests.get(request_id)
        return found if found is not None and found.version == version else None

    def head(self, ledger: int) -> tuple[int, str] | None:
        """The last committed ``(seq, hash)`` of ``ledger`` this process saw."""
        return self._heads.get(ledger)

    def directory(self, version: int) -> DirectorySnapshot | None:
        """The snapshot of ``version``, if that is the one cached."""
        snapshot = self._directory
        if snapshot is not None and snapshot.version == version:
            return snapshot
        return None

    def current_directory(self) -> DirectorySnapshot | None:
        """The newest directory snapshot this process saw committed, if any."""
        return self._directory

    def note_head(self, *, stale: bool) -> None:
        """Record whether a cached head was stale (drives the optimistic append)."""
        self.head_misses = self.head_misses * 0.9 + (0.1 if stale else 0.0)

    def publish(
        self,
        heads: Mapping[int, tuple[int, str]],
        directory: DirectorySnapshot | None,
        requests: Mapping[str, Request] | None = None,
    ) -> None:
        """Keep what a unit of work that has just committed read and wrote."""
        with self._lock:
            for rid, request in (requests or {}).items():
                known = self._requests.pop(rid, None)
                if known is not None and known.version > request.version:
                    request = known
                self._requests[rid] = request
            while len(self._requests) > self.REQUESTS:
                self._requests.popitem(last=False)
            for ledger, head in heads.items():
                seen = self._heads.get(ledger)
                if seen is None or seen[0] <= head[0]:
                    self._heads[ledger] = head
            if directory is None:
                return
            current = self._directory
            if current is not None and current.version > directory.version:
                return
            if current is not None and _adds_nothing(current, directory):
                return  # the usual case: every row read came from ``current``
            fresh = DirectorySnapshot(directory.version)
            if current is not None and current.version == directory.version:
                fresh.merge(current)
            fresh.merge(directory)
            self._directory = fresh


def _adds_nothing(current: DirectorySnapshot, seen: DirectorySnapshot) -> bool:
    """Whether merging ``seen`` into ``current`` (same version) would change nothing.

    Published snapshots are never changed in place, so then ``current`` stays.
    """
    if current.version != seen.version:
        return False
    if seen.auth_actors is not None and seen.auth_actors is not current.auth_actors:
        return False
    grants = current.grants
    return all(grants.get(actor) is rows for actor, rows in seen.grants.items())
