"""The console's words, Chinese first (the district's staff work in Chinese), English second.

Each area's words live in their own module; a key is unique across them (a unit test checks).
"""

from __future__ import annotations

from console import words_common, words_drivers, words_operations, words_points

LANGUAGES = ("zh-CN", "en")

_AREAS = (words_common, words_drivers, words_points, words_operations)

# key: (zh-CN, en). Values may name {placeholders}.
WORDS: dict[str, tuple[str, str]] = {
    key: pair for area in _AREAS for key, pair in area.WORDS.items()
}


def translate(lang: str, key: str, **values: object) -> str:
    pair = WORDS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "zh-CN" else pair[1]
    return text.format(**values) if values else text
