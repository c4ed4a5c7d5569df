"""Database: schema and migrations, every SQL statement and typed access (`store`), the region
registry and reference data. Files are read elsewhere (CSV import: aicity.importer)."""
from __future__ import annotations

import sys


def _import_sqlite_utils() -> None:
    """Import sqlite-utils without pandas. sqlite-utils imports pandas whenever it is installed,
    only to map a pandas Timestamp to a TEXT column when it creates a table from values; our
    tables come from schema.py, never from values. pandas costs about 0.4 s of every command,
    and `aicity regions` and `aicity rank` need none of it."""
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None   # makes `import pandas` fail inside sqlite-utils only
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_sqlite_utils()
