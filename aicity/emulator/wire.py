"""The emulator's side of the Baidu Index wire format, written from the research note on the
protocol and kept apart from the crawler's code: if both sides shared one implementation, a
mistake in it would pass every test.

What the site does, as public crawlers report it (research note §§5-8):
* numbers travel as a comma list encrypted by a per-`uniqid` substitution key (ptbk): the key's
  first half are the cipher characters, its second half the plain characters ``0-9,.+-%``;
* `word` is JSON: a list of series, each a list of ``{"name": …, "wordType": 1}``;
* ``Cipher-Text`` is ``<T0>_<clientTs>_<base64>`` of AES-128-CBC (IV ``1234567887654321``,
  PKCS#7) over ``{"ua","url","platform","clientTs","version"}``;
* every answer is an envelope ``{"status", "data", "logid", "message"}`` with HTTP 200.
"""
from __future__ import annotations

import base64
import functools
import json
import random
from datetime import date
from urllib.parse import unquote

import numpy as np

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DIGITS = "0123456789,.+-%"
IV = b"1234567887654321"
FIRST_DAY = date(2011, 1, 1)
SERIES_LIMIT = 5
TREND_PAGE_PREFIX = "https://index.baidu.com/v2/main/index.html#/trend/"

# The site's current Cipher-Text constants (acs-2057.js built 2026-10-04, research note 2026
# §1). Earlier ones (2025-11: goqwgaiiacaykuwo, 1763957172935) are refused under strict-token.
SITE_KEY = "gugimaoaaiqcsmqw"
SITE_T0 = 1791086660893
SITE_VERSION = "1.0.0.5"

OK = 0
NOT_LOGGED_IN = 10000
REQUEST_BLOCK = 10001
BAD_REQUEST = 10002
NOT_INDEXED = 10003
ABNORMAL = 10018


class BadRequest(ValueError):
    """A request the site answers with 10002."""


def envelope(data, status: int = OK, message="") -> dict:
    return {"status": status, "data": data, "logid": random.getrandbits(31),
            "message": message if message else 0}


def new_key(rng: random.Random) -> str:
    symbols = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%+-.,"
    return "".join(rng.sample(symbols, 15)) + "".join(rng.sample(DIGITS, 15))


# The texts of the numbers below 65,536, and an empty day's text after them
SMALL = 1 << 16


@functools.cache
def _small_numbers() -> list[str]:
    return [str(i) for i in range(SMALL)] + [""]


def wrong_digits(key: str, rng: random.Random) -> str:
    """The same key with its digits mapped to other digits: what decoding with another
    answer's key gives when the two share a cipher alphabet (plausible, wrong numbers)."""
    plain = list(key[15:])
    at = [i for i, c in enumerate(plain) if c.isdigit()]
    moved = [plain[i] for i in at]
    while moved == [plain[i] for i in at]:
        rng.shuffle(moved)
    for i, c in zip(at, moved):
        plain[i] = c
    return key[:15] + "".join(plain)


def encrypt_numbers(values: np.ndarray, key: str) -> str:
    """The ptbk-enciphered comma list of `values` (NaN is an empty day)."""
    return encrypt_rows(np.asarray(values, dtype=float)[None, :], key)[0]


def encrypt_rows(rows: np.ndarray, key: str) -> list[str]:
    """encrypt_numbers of each row of a 2-D array, the rows done at once."""
    # A year of five keywords on three devices per answer: per-value Python was most of the
    # emulator's time, and str() of each number half of what was left (a demo encrypts 16
    # million of them); most indexes are below 65,536.
    flat = rows.ravel()
    empty = np.isnan(flat)
    numbers = np.where(empty, SMALL, flat).astype(np.int64)
    large = ((numbers >= SMALL) & ~empty) | (numbers < 0)
    # each text looked up in C (map over the list's own __getitem__), no Python per value
    texts = list(map(_small_numbers().__getitem__, np.where(large, 0, numbers).tolist()))
    for i in np.flatnonzero(large).tolist():
        texts[i] = str(numbers[i])
    cipher = str.maketrans(key[15:], key[:15])
    n = rows.shape[1]
    return [",".join(texts[i:i + n]).translate(cipher) for i in range(0, len(texts), n)]


def series_from_word(text: str) -> list[list[str]]:
    """The requested series (each a list of term names) from a `word` value."""
    try:
        groups = json.loads(text)
        out = [[term["name"] for term in group] for group in groups]
    except (ValueError, TypeError, KeyError):
        raise BadRequest("word is not a JSON list of series") from None
    if not out or any(not g for g in out):
        raise BadRequest("empty series")
    return out


def open_token(header: str, key: str) -> tuple[int, int, dict]:
    """(T0, clientTs, payload) of a Cipher-Text header; ValueError when it does not open."""
    t0, sep, rest = header.partition("_")
    ts, sep2, body = rest.partition("_")
    if not (sep and sep2 and t0.isdigit() and ts.isdigit()):
        raise ValueError("not <T0>_<clientTs>_<base64>")
    raw = base64.b64decode(body, validate=True)
    decryptor = Cipher(algorithms.AES(key.encode()), modes.CBC(IV)).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    payload = json.loads(unpadder.update(padded) + unpadder.finalize())
    if not isinstance(payload, dict):
        raise ValueError("payload is not an object")
    return int(t0), int(ts), payload


def token_page_keyword(payload: dict) -> str | None:
    """The keyword in the token's `url` when it is the trend page with only the keyword
    percent-encoded; None otherwise (a wholly encoded URL does not start with https://)."""
    url = str(payload.get("url", ""))
    if not url.startswith(TREND_PAGE_PREFIX):
        return None
    return unquote(url[len(TREND_PAGE_PREFIX):].split("?", 1)[0])
