"""Moved to `aicity.service.queries` (it reads the database); re-exported here for scripts that
import it from where the README once pointed."""
from aicity.service.queries import *  # noqa: F401,F403
