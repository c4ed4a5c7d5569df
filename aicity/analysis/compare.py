"""Moved to `aicity.service.compare` (it reads the database); re-exported here for scripts that
import it from where the README once pointed."""
from aicity.service.compare import *  # noqa: F401,F403
