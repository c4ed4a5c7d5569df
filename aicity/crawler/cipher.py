"""Where the Cipher-Text constants come from: a TOML file a person can edit, then single values
given over it (`aicity collect --cipher-key …`, or AICITY_CIPHER_KEY, _T0, _VERSION). Baidu
rotates them, so they are configuration, not code."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("cipher.toml")


class CipherConfigError(ValueError):
    """A cipher file or variable that cannot be used; the message names it."""


@dataclass(frozen=True)
class CipherConfig:
    key: str
    t0: int
    version: str
    origin: str          # where the values came from, for messages (never a secret)

    def settings(self) -> dict:
        return {"AICITY_CIPHER_KEY": self.key, "AICITY_CIPHER_T0": self.t0,
                "AICITY_CIPHER_VERSION": self.version}


def _check(key, t0, version, where: str) -> tuple[str, int, str]:
    if not isinstance(key, str) or len(key) != 16 or not key.isascii():
        raise CipherConfigError(f"{where}: key must be 16 ASCII characters (AES-128)")
    try:
        t0 = int(t0)
    except (TypeError, ValueError):
        raise CipherConfigError(f"{where}: t0 {t0!r} is not a whole number of milliseconds") \
            from None
    if t0 <= 0:
        raise CipherConfigError(f"{where}: t0 must be positive")
    if not isinstance(version, str) or not version.strip():
        raise CipherConfigError(f"{where}: version must be a non-empty string")
    return key, t0, version.strip()


def load_cipher(path: str | os.PathLike | None = None, *, key: str | None = None,
                t0: int | str | None = None, version: str | None = None,
                names: dict[str, str] | None = None) -> CipherConfig:
    """The file (default: the packaged constants), then each of key, t0 and version given over
    it. `names` says where those came from, for messages (say {"key": "AICITY_CIPHER_KEY"})."""
    file = Path(path or DEFAULT_FILE)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CipherConfigError(f"{file}: no such cipher file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CipherConfigError(f"{file}: not valid TOML ({err})") from None
    unknown = set(data) - {"key", "t0", "version"}
    if unknown:
        raise CipherConfigError(f"{file}: unknown setting(s) {', '.join(sorted(unknown))}; "
                                f"expected key, t0, version")
    missing = {"key", "t0", "version"} - set(data)
    if missing:
        raise CipherConfigError(f"{file}: missing {', '.join(sorted(missing))}")
    checked = _check(data["key"], data["t0"], data["version"], str(file))
    origin = str(file)
    given = {"key": key, "t0": t0, "version": version}
    overrides = [n for n, v in given.items() if v not in (None, "")]
    if overrides:
        where = "/".join((names or {}).get(n, n) for n in overrides)
        checked = _check(*(given[n] if n in overrides else v
                           for n, v in zip(("key", "t0", "version"), checked)), where)
        origin += " with " + where
    return CipherConfig(*checked, origin)
