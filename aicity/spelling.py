"""One spelling of a name: every keyword and region name that enters (an import, collect's
--keywords and --regions, a lookup, a classification) is read the same way.

`clean` is how a name is kept: Unicode NFKC (full-width ＡＩ is AI, ９７ is 97, an ideographic
space a space), white space collapsed, and no character that cannot be seen (zero-width spaces
and joiners, a byte-order mark, NUL and other control characters): such a name is refused in one
line naming the character, for it would file values under a keyword nobody can type.

`key` is how two spellings are compared: the clean name in simplified characters (OpenCC's
t2s: 廣州 is 广州, 人工智慧 is 人工智慧 and a taxonomy alias of 人工智能), case folded (ai is AI,
as Baidu answers its words in lower case). Two names with one key are one name.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache

# categories of characters that have no place in a name: control, format (zero-width space,
# joiners, BOM, soft hyphen), surrogate, private use, unassigned
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn"}


class SpellingError(ValueError):
    """A name holds a character that cannot be seen."""


@lru_cache(maxsize=1)
def _t2s():
    import opencc
    return opencc.OpenCC("t2s")


def clean(text: str, what: str = "name") -> str:
    """The name as kept: NFKC, single spaces, nothing invisible (SpellingError says which)."""
    text = unicodedata.normalize("NFKC", str(text))
    text = " ".join(text.split())
    for char in text:
        if unicodedata.category(char) in _INVISIBLE:
            label = unicodedata.name(char, "a control character").lower()
            raise SpellingError(f"{what} {text!r} holds an invisible character "
                                f"(U+{ord(char):04X}, {label}); type it without")
    return text


def simplified(text: str) -> str:
    """Traditional characters as simplified (OpenCC t2s)."""
    return _t2s().convert(text)


def key(text: str) -> str:
    """What two spellings of one name share: clean, simplified, case folded."""
    return simplified(clean(text)).casefold()
