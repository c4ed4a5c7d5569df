"""Recorded protocol answers and known-answer vectors (tests/fixtures/protocol/).

Written from the team's protocol notes and enciphered by hand or with openssl, never with the
crawler's or the emulator's code: a protocol bug both sides share would otherwise pass.
"""
from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures") / "protocol"

# OG's captured ptbk key (research note §8): its first half stands for its second half.
OG_PTBK = "DOgXUo41hZ2+0N31752-0+934%8.,6"
# The same table read backwards, written out by hand: plain symbol -> cipher symbol.
_TO_CIPHER = str.maketrans("0123456789,", "oDXhZg3O+1N")


def encipher(values) -> str:
    """A series as the site sends it under OG_PTBK: a comma list, empty items for no value."""
    return ",".join("" if v is None else str(int(v)) for v in values).translate(_TO_CIPHER)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def asked_words(word_param: str) -> list[str]:
    """The first term of each series in an index request's `word` parameter (JSON, §3)."""
    return [series[0]["name"] for series in json.loads(word_param)]
