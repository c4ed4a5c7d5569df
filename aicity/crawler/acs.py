"""Read the Cipher-Text constants out of a saved copy of Baidu's `acs-2057.js`, without running it.

The SDK (served from dlswbr.baidu.com/heicha/mm/2057/acs-2057.js) is obfuscated in a way that is
stable across its builds (research note 2026 §1):

* a string table is passed to its first function as one literal in which every character of
  the real text is replaced by another (a table of 33 character codes, and the 33 codes that
  stand for them, are given as two hex arrays), and whose entries are separated by any of a
  few more characters (a third, short hex array); each entry is then URI-decoded;
* the table is rotated left by a count given right after it (`(a,0x188)`);
* after the rotation the first entry is the AES key and the second the IV, and one entry is
  the token's prefix, the build time in milliseconds followed by `_` (T0); the SDK version is
  a plain literal.

Pure functions over the file's text; `aicity doctor --acs FILE` stores what they find.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


class AcsError(ValueError):
    """The file does not hold a string table of the known shape; the message says what lacks."""


@dataclass(frozen=True)
class AcsConstants:
    key: str
    iv: str
    t0: int
    version: str


_HEX_ARRAY = re.compile(r"\[((?:0x[0-9a-fA-F]+,)*0x[0-9a-fA-F]+)\]")
_TABLE = re.compile(r"\}\(this,'((?:[^'\\]|\\.)*)'\)")
_ROTATION = re.compile(r"\(a,(0x[0-9a-fA-F]+|\d+)\)\)")
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_VERSION = re.compile(r"\d+\.\d+\.\d+\.\d+")


def js_string(body: str) -> str:
    """The value of a single-quoted JavaScript literal's body (\\xNN, \\uNNNN, \\' …)."""
    def one(m: re.Match) -> str:
        esc = m.group(1)
        if esc[0] == "x":
            return chr(int(esc[1:], 16))
        if esc[0] == "u":
            return chr(int(esc[1:], 16))
        return {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(esc, esc)
    return re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)", one, body)


def string_table(text: str) -> list[str]:
    """The SDK's decoded and rotated string table."""
    table = _TABLE.search(text)
    if table is None:
        raise AcsError("no string table (a '}(this,'…')' literal) found: is this acs-2057.js?")
    arrays = [[int(x, 16) for x in m.group(1).split(",")]
              for m in _HEX_ARRAY.finditer(text, 0, table.start())]
    plain = next((a for a in arrays if len(a) > 8 and max(a) < 128), None)
    coded = next((a for a in arrays if plain is not None and len(a) == len(plain)
                  and min(a) >= 128), None)
    separators = next((a for a in arrays if a is not plain and a is not coded
                       and min(a) >= 128), None)
    if plain is None or coded is None or separators is None:
        raise AcsError("the string table's character map (three hex arrays before it) is "
                       "not there")
    mapping = str.maketrans({chr(c): chr(p) for c, p in zip(coded, plain)})
    decoded = js_string(table.group(1)).translate(mapping)
    split = re.split("|".join(re.escape(chr(c)) for c in separators), decoded)
    entries = [unquote(e) for e in split]
    rotation = _ROTATION.search(text, table.end())
    if rotation is None:
        raise AcsError("the string table's rotation count ('(a,0x…))') is not there")
    n = int(rotation.group(1), 0) % len(entries)
    return entries[n:] + entries[:n]


def read_acs(text: str) -> AcsConstants:
    """Key, IV, T0 and version of a saved acs-2057.js."""
    table = string_table(text)
    key, iv = table[0], table[1] if len(table) > 1 else ""
    if len(key) != 16 or not key.isascii() or not key.isalnum():
        raise AcsError(f"the table's first entry is not a 16-character AES key ({len(key)} "
                       f"characters)")
    if len(iv) != 16 or not iv.isascii():
        raise AcsError("the table's second entry is not a 16-character IV")
    prefix = next((e for e in table if re.fullmatch(r"\d{13}_", e)), None)
    if prefix is None:
        raise AcsError("no token prefix (13 digits and '_') in the string table")
    version = next((v for v in (js_string(m.group(1)) for m in _LITERAL.finditer(text))
                    if _VERSION.fullmatch(v)), None)
    if version is None:
        raise AcsError("no SDK version literal (like '1.0.0.5') found")
    return AcsConstants(key=key, iv=iv, t0=int(prefix[:-1]), version=version)
