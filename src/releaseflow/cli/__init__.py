"""The ``releaseflow`` command line (click + rich).

Global options: ``--db URL`` (default ``sqlite:///releaseflow.db``; also the
``RELEASEFLOW_DB`` variable) and ``--format table|json|csv``.

Exit codes scripts can rely on:

* ``0`` -- success;
* ``1`` -- ``audit verify`` found a problem (the first bad entry is named);
* ``2`` -- usage error (unknown option, bad argument);
* ``3`` -- refused input or permission: a releaseflow validation, policy or
  not-found error;
* ``4`` -- storage error (database unreachable, locked, schema outdated);
* ``5`` -- any other releaseflow error.
"""

from __future__ import annotations

# importing these modules registers their command groups on ``cli``
from . import audit_commands as _audit_commands
from . import deadline_commands as _deadline_commands
from . import report as _report
from .app import EXIT_FAILED, EXIT_INPUT, EXIT_OTHER, EXIT_STORAGE, CliState, cli, main

del _audit_commands, _deadline_commands, _report

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OTHER",
    "EXIT_STORAGE",
    "CliState",
    "cli",
    "main",
]
