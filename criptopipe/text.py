"""How counts read to a person: '1 day', '2 days', '1,234 requests'."""

from __future__ import annotations

#: plurals that do not just add an 's'
_IRREGULAR = {"entry": "entries", "copy": "copies", "this": "these"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and `word`, in the singular for exactly one: plural(1, 'day') == '1 day'."""
    if n == 1:
        return f"1 {word}"
    return f"{n:,} {many or _IRREGULAR.get(word, word + 's')}"
