"""The Baidu Index web protocol: pure functions, no I/O.

Reverse-engineered by third parties (see the team's research note on the protocol); summarised:

* index endpoints return number strings encrypted by a per-`uniqid` substitution key (ptbk);
  the key's first half is the cipher alphabet and its second half the plain alphabet
  ``0-9 , . + - %``; an empty item in the decoded comma list means "no value";
* requests carry a ``Cipher-Text`` header: ``<T0>_<clientTs>_<base64(AES-128-CBC(json))>`` with
  IV ``1234567887654321`` and PKCS#7 padding; the AES key and T0 rotate and live in settings;
* the ``word`` parameter is URL-encoded JSON: a list of series, each a list of term objects.
"""
from __future__ import annotations

import base64
import json
import time
from datetime import date
from urllib.parse import quote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CIPHER_IV = b"1234567887654321"
TREND_PAGE = "https://index.baidu.com/v2/main/index.html#/trend/{kw}?words={kw}"
EARLIEST = date(2011, 1, 1)
MAX_SERIES_PER_REQUEST = 5

# Status codes inside the JSON envelope (HTTP status is 200 for all of them).
OK, NO_DATA = 0, 1
NOT_LOGGED_IN, BLOCKED, BAD_REQUEST, NOT_INDEXED, ABNORMAL = 10000, 10001, 10002, 10003, 10018


class ProtocolError(ValueError):
    """A response that does not have the documented shape."""


def decode(encrypted: str, ptbk: str) -> str:
    """Substitute every character of `encrypted` through the ptbk table."""
    if not ptbk or len(ptbk) % 2:
        raise ProtocolError(f"ptbk key of length {len(ptbk or '')} is not an even, "
                            f"non-empty length")
    half = len(ptbk) // 2
    return encrypted.translate(str.maketrans(ptbk[:half], ptbk[half:]))


def parse_values(decoded: str, expected: int | None = None) -> list[int | None]:
    """Comma list to integers; an empty item is a missing value (None), never zero.

    An empty string is no values, or one missing value when one is expected (a one-day range
    whose only day is empty encodes to nothing).
    """
    if decoded == "":
        return [None] if expected == 1 else []
    parts = decoded.split(",")
    try:
        # the usual answer: whole numbers only (int() allows surrounding blanks, not '')
        return list(map(int, parts))
    except ValueError:
        pass
    try:
        # the next most usual: whole numbers and a few empty days (a year of a small city)
        return [int(item) if item else None for item in parts]
    except ValueError:
        pass
    out: list[int | None] = []
    for item in parts:
        item = item.strip()
        if item == "":
            out.append(None)
            continue
        try:
            out.append(int(item))
        except ValueError:
            try:
                number = float(item)
            except ValueError:
                raise ProtocolError(f"decoded item {item!r} is not a number") from None
            out.append(int(round(number)))
    return out





def word_param(series: list[list[str]] | list[str]) -> str:
    """The `word` query value: JSON list of series, each a list of {name, wordType} objects."""
    groups = [[s] if isinstance(s, str) else list(s) for s in series]
    return json.dumps([[{"name": w, "wordType": 1} for w in g] for g in groups],
                      ensure_ascii=False, separators=(",", ":"))



def series_name(terms: list[dict] | list[str]) -> str:
    """The keyword a userIndexes entry stands for ('a+b' for a combined series)."""
    names = [t["name"] if isinstance(t, dict) else str(t) for t in terms]
    return "+".join(names)


def cipher_text(*, keyword: str, user_agent: str, aes_key: str, t0: int, version: str,
                now_ms: int | None = None) -> str:
    """The Cipher-Text header for a request about `keyword` (the first keyword of a batch)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    # Only the keyword is percent-encoded in `url`, as current public crawlers send it.
    page = TREND_PAGE.format(kw=quote(keyword, safe=""))
    payload = json.dumps({"ua": user_agent, "url": page,
                          "platform": "MacIntel", "clientTs": now_ms, "version": version},
                         separators=(",", ":")).encode()
    padder = padding.PKCS7(128).padder()  # a full block is added when already aligned
    padded = padder.update(payload) + padder.finalize()
    enc = Cipher(algorithms.AES(aes_key.encode()), modes.CBC(CIPHER_IV)).encryptor()
    body = base64.b64encode(enc.update(padded) + enc.finalize()).decode()
    return f"{t0}_{now_ms}_{body}"



