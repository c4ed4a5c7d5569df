"""Where the Cipher-Text constants come from: a TOML file a person can edit, then single values
given over it (`aicity collect --cipher-key …`, or AICITY_CIPHER_KEY, _T0, _VERSION). Baidu
rotates them, so they are configuration, not code."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aicity.vocabulary import SHANGHAI

DEFAULT_FILE = Path(__file__).with_name("cipher.toml")


class CipherConfigError(ValueError):
    """A cipher file or variable that cannot be used; the message names it."""


@dataclass(frozen=True)
class CipherConfig:
    key: str
    t0: int
    version: str
    origin: str          # where the values came from, for messages (never a secret)
    previous: tuple[tuple[str, int, str], ...] = ()   # earlier sets, tried in turn on 10018

    def settings(self) -> dict:
        return {"AICITY_CIPHER_KEY": self.key, "AICITY_CIPHER_T0": self.t0,
                "AICITY_CIPHER_VERSION": self.version,
                "AICITY_CIPHER_PREVIOUS": [list(p) for p in self.previous]}

    def describe(self) -> str:
        """One line: which set is in use, and from where."""
        built = datetime.fromtimestamp(self.t0 / 1000, SHANGHAI).date().isoformat()
        return (f"Cipher-Text constants of {built} (T0 {self.t0}, version {self.version}) from "
                f"{self.origin}" + (f", {len(self.previous)} earlier set(s) to fall back on"
                                    if self.previous else ""))


def user_cipher_file() -> Path:
    """Where `aicity doctor --acs` keeps constants it read: the user's configuration folder
    ($XDG_CONFIG_HOME/aicity, by default ~/.config/aicity). Used when no cipher file is
    named, over the packaged constants."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "aicity" / "cipher.toml"


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
    if not path:
        path = user_cipher_file() if user_cipher_file().is_file() else DEFAULT_FILE
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CipherConfigError(f"{file}: no such cipher file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CipherConfigError(f"{file}: not valid TOML ({err})") from None
    unknown = set(data) - {"key", "t0", "version", "previous"}
    if unknown:
        raise CipherConfigError(f"{file}: unknown setting(s) {', '.join(sorted(unknown))}; "
                                f"expected key, t0, version and [[previous]] sets")
    sets = data.get("previous", [])
    if not isinstance(sets, list) or not all(isinstance(p, dict) for p in sets):
        raise CipherConfigError(f"{file}: previous must be [[previous]] tables")
    previous = tuple(_check(p.get("key"), p.get("t0"), p.get("version", "1.0.0.5"),
                            f"{file}: previous set {i + 1}") for i, p in enumerate(sets))
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
    return CipherConfig(*checked, origin, tuple(p for p in previous if p != checked))


def save_user_cipher(key: str, t0: int, version: str, *, keep: CipherConfig | None = None,
                     path: Path | None = None) -> Path:
    """Keep a set read from the site in the user's configuration; the sets in use before
    (`keep`) become its fallbacks. Written to a temporary file and renamed."""
    key, t0, version = _check(key, t0, version, "new constants")
    path = path or user_cipher_file()
    earlier = [] if keep is None else [(keep.key, keep.t0, keep.version), *keep.previous]
    lines = ["# Written by `aicity doctor --acs`: the constants read from the site's acs-2057.js.",
             f'key = "{key}"', f"t0 = {t0}", f'version = "{version}"']
    for k, t, v in dict.fromkeys(p for p in earlier if p != (key, t0, version)):
        lines += ["", "[[previous]]", f'key = "{k}"', f"t0 = {t}", f'version = "{v}"']
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
