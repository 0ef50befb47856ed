"""Matching a file's column names to the names a spec expects.

Names match ignoring case, surrounding spaces and separators (``Debt to
assets``, ``debt-to-assets`` and ``DEBT_TO_ASSETS`` are one name), and a feature's
plain-language label is accepted as its name; every match that is not exact is
said in a note.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

__all__ = ["match_columns", "normalise_name"]


_SEPARATORS = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=8192)
def _normalised(name: str) -> str:
    folded = name.strip().lstrip("\ufeff").casefold()
    # a name of punctuation only (``%``, ``#``) keeps its characters so that it does not match every other such name
    return _SEPARATORS.sub("", folded) or _SPACES.sub(" ", folded)


def normalise_name(name: str) -> str:
    """Column-name key for tolerant matching: case-folded, without spaces, underscores or punctuation.

    ``COMPANY ID``, ``Company_Id`` and ``company-id`` all give ``companyid``.
    Letters and digits of every script are kept. Names repeat (every record of
    an API call has the same keys), so results are cached.
    """
    return _normalised(str(name))


def match_columns(columns: list[str], wanted: list[str],
                  aliases: Mapping[str, Sequence[str]] | None = None) -> tuple[dict[str, str], list[str]]:
    """Map each wanted name to a column of the file, ignoring case, spaces, underscores and punctuation.

    Parameters
    ----------
    columns : the file's column names.
    wanted : the names looked for (the spec's).
    aliases : other names accepted for a wanted name, such as a feature's
        plain-language label (``{"current_ratio": ["Current ratio"]}``).

    Returns
    -------
    (mapping, notes)
        ``mapping`` is wanted name → file column for the names found; ``notes``
        tell of names that matched more than one column (the first is used).

    Notes
    -----
    A column that is exactly a wanted name goes to that name first; then
    names are matched by :func:`normalise_name`; aliases come last and only
    claim columns no wanted name took. An alias that reads as another wanted
    name (normalised) is ignored, so a label never takes another feature's
    column. A column renamed ``x.1`` because ``x`` appeared twice counts as a
    copy of ``x``.
    """
    wanted_set = set(wanted)
    by_key: dict[str, list[str]] = {}
    for c in columns:
        base = re.sub(r"\.\d+$", "", c) if c not in wanted_set else c
        by_key.setdefault(normalise_name(base), []).append(c)
    present = set(columns)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    exact = {w for w in wanted if w in present}
    taken = set(exact)
    for w in wanted:
        hits = [c for c in by_key.get(normalise_name(w), []) if c == w or c not in exact]
        if w in exact:
            hits = [w] + [c for c in hits if c != w]
        else:
            hits = [c for c in hits if c not in taken]
        if not hits:
            continue
        mapping[w] = hits[0]
        taken.add(hits[0])
        if len(hits) > 1:
            notes.append(f"column {w!r} appears {len(hits)} times ({', '.join(map(repr, hits))}); "
                         f"the first was used — remove the others")
    if aliases:
        own = {normalise_name(w) for w in wanted}
        for w in wanted:
            if w in mapping:
                continue
            # a label that reads as a wanted name (normalised) would take that name's column: it is not used
            names = [a for a in aliases.get(w, ()) if a and normalise_name(a) not in own]
            hit = next((a for a in names if a in present and a not in taken), None)
            for a in names if hit is None else ():
                hit = next((c for c in by_key.get(normalise_name(a), []) if c not in taken), None)
                if hit is not None:
                    break
            if hit is not None:
                mapping[w] = hit
                taken.add(hit)
    return {w: mapping[w] for w in wanted if w in mapping}, notes
