"""Moved to `aicity.importer` (reading and checking files is not the database's job; this
module only stores what it read, through `db/`). Kept so that scripts importing it from
here, as the README once showed, still run."""
from aicity.importer import ImportFailed, ImportResult, detect_encoding, import_csv

__all__ = ["ImportFailed", "ImportResult", "detect_encoding", "import_csv"]
