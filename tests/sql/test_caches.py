"""The store's in-process caches: what a committed unit of work publishes."""

from __future__ import annotations

from datetime import UTC, datetime

from releaseflow.models import Grant, Role
from releaseflow.storage.sql.caches import DirectorySnapshot, StoreCaches


def _grants(actor: str) -> tuple[Grant, ...]:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return (
        Grant(
            actor=actor, role=Role.HEAD, unit="agency", granted_by="x", granted_at=at
        ),
    )


def _published(version: int, **grants: tuple[Grant, ...]) -> StoreCaches:
    caches = StoreCaches()
    snapshot = DirectorySnapshot(version)
    snapshot.grants.update(grants)
    snapshot.auth_actors = frozenset({"a"})
    caches.publish({}, snapshot)
    return caches


def test_snapshot_read_from_the_cache_keeps_the_published_one() -> None:
    """Rows that all came from the published snapshot: it stays, uncopied."""
    rows = _grants("ann")
    caches = _published(3, ann=rows)
    before = caches.directory(3)
    assert before is not None
    seen = DirectorySnapshot(3)
    seen.grants["ann"] = before.grants["ann"]
    seen.auth_actors = before.auth_actors
    caches.publish({}, seen)
    assert caches.directory(3) is before  # nothing new: no copy made
    assert before.grants == {"ann": rows}


def test_new_rows_of_the_same_version_are_merged() -> None:
    """A new actor's rows join a fresh snapshot; the published one is unchanged."""
    ann, bob = _grants("ann"), _grants("bob")
    caches = _published(3, ann=ann)
    before = caches.directory(3)
    seen = DirectorySnapshot(3)
    seen.grants["bob"] = bob
    caches.publish({}, seen)
    after = caches.directory(3)
    assert after is not None
    assert after is not before
    assert after.grants == {"ann": ann, "bob": bob}
    assert after.auth_actors == frozenset({"a"})
    assert before is not None
    assert before.grants == {"ann": ann}


def test_rows_read_again_replace_the_cached_ones() -> None:
    """Rows read from the database (not the cache) replace the cached ones."""
    caches = _published(3, ann=_grants("ann"))
    fresh = _grants("ann")
    seen = DirectorySnapshot(3)
    seen.grants["ann"] = fresh
    seen.auth_actors = frozenset({"a", "b"})
    caches.publish({}, seen)
    after = caches.directory(3)
    assert after is not None
    assert after.grants["ann"] is fresh
    assert after.auth_actors == frozenset({"a", "b"})


def test_older_version_is_ignored_and_newer_replaces() -> None:
    """An older version never replaces the cached one; a newer one does."""
    caches = _published(3, ann=_grants("ann"))
    old = DirectorySnapshot(2)
    old.grants["bob"] = _grants("bob")
    caches.publish({}, old)
    assert caches.directory(2) is None
    newer = DirectorySnapshot(4)
    caches.publish({}, newer)
    assert caches.directory(3) is None
    after = caches.directory(4)
    assert after is not None
    assert after.grants == {}
    assert after.auth_actors is None
