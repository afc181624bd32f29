"""The backend contract suite (``releaseflow.testing.StoreContract``) on every backend.

The ``store`` fixture comes from ``tests/conftest.py`` and is parametrised over every
configured backend.
"""

from __future__ import annotations

from releaseflow.testing import StoreContract


class TestStoreContract(StoreContract):
    """Runs every contract test against the conftest ``store`` fixture."""
