"""Storage backends. Import one by path; the domain core never imports them.

* :mod:`releaseflow.storage.memory` -- the reference backend (tests, examples).
* :mod:`releaseflow.storage.sql` -- SQLAlchemy 2: SQLite, PostgreSQL, MariaDB.
"""
