"""Parameter descriptions that many evaluation functions share, written once.

Every metric takes the same ``y_true`` and ``y_prob`` and many take the same
``sample_weight``, ``costs`` or resampling settings. Their descriptions live
here and :func:`shared_docs` writes them into each docstring, so ``help()``
shows every parameter in full while a change of wording is made in one place
(the same idea as pandas' ``pandas.util._decorators.doc``).

A docstring names a fragment by a line that holds only ``{name}`` in its
Parameters (or Raises) section; the fragment's lines are indented to match that
line. Other braces in a docstring, such as ``{'roc', 'pr'}`` for a choice,
are left as they are.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DOCS", "render", "shared_docs"]

T = TypeVar("T", bound=Callable[..., object])

_Y_TRUE = """\
y_true : array-like of shape (n,)
    1 for a default, 0 otherwise."""
_SCORES = _Y_TRUE + """
y_prob : array-like of shape (n,)
    Scores; higher means riskier."""
_SAMPLE_WEIGHT = """\
sample_weight : array-like of shape (n,), optional
    Non-negative row weights."""
_COSTS = """\
costs : riskcore.config.Costs
    Prices of a missed default and a false alarm."""
_EXPOSURE = """\
exposure : array-like of shape (n,), optional
    Exposure at default per row; required when ``costs.mode == "exposure"``."""

DOCS: dict[str, str] = {
    "y_true": _Y_TRUE,
    "scores": _SCORES,
    "weighted_scores": _SCORES + "\n" + _SAMPLE_WEIGHT,
    "priced_scores": _SCORES + "\n" + _COSTS + "\n" + _EXPOSURE,
    "probabilities": _Y_TRUE + """
y_prob : array-like of shape (n,)
    Predicted probabilities in [0, 1].""",
    "sample_weight": _SAMPLE_WEIGHT,
    "resample_weight": """\
sample_weight : array-like of shape (n,), optional
    Row weights, multiplied into the resample counts.""",
    "costs": _COSTS,
    "exposure": _EXPOSURE,
    "invalid_inputs": """\
riskcore.errors.SchemaError
    For invalid inputs, or exposure mode without exposure.""",
}
"""The shared fragments by name, each in numpy docstring form without indentation."""


def _placeholder(name: str) -> re.Pattern[str]:
    """Match a line that holds only ``{name}``, capturing its indentation."""
    return re.compile(rf"^(?P<indent>[ \t]*)\{{{re.escape(name)}\}}[ \t]*$", re.MULTILINE)


def _indented(text: str) -> Callable[[re.Match[str]], str]:
    """Give a replacement that indents ``text`` like the matched placeholder line."""

    def fill(match: re.Match[str]) -> str:
        return textwrap.indent(text, match["indent"])

    return fill


def render(doc: str, fragments: dict[str, str]) -> str:
    """Replace each ``{name}`` line of ``doc`` by its fragment, indented like the line.

    Parameters
    ----------
    doc : str
        A docstring as written in the source.
    fragments : dict of str to str
        Fragment text by placeholder name.

    Returns
    -------
    str
        The docstring with every named placeholder replaced.

    Raises
    ------
    ValueError
        When a fragment's placeholder is not in ``doc``: a misspelt name would
        otherwise leave the description out silently.
    """
    for name, text in fragments.items():
        pattern = _placeholder(name)
        if not pattern.search(doc):
            raise ValueError(f"the docstring has no line '{{{name}}}' to fill; add it or drop {name}= from shared_docs")
        doc = pattern.sub(_indented(text), doc)
    return doc


def shared_docs(*names: str, **fragments: str) -> Callable[[T], T]:
    """Fill a docstring's ``{name}`` lines with shared parameter descriptions.

    Parameters
    ----------
    *names : str
        Names of fragments in :data:`DOCS`.
    **fragments : str
        Further fragments for this docstring only (or overriding one of :data:`DOCS`).

    Returns
    -------
    callable
        A decorator that sets the function's or class's ``__doc__`` and returns it
        unchanged otherwise. Without docstrings (``python -OO``) it does nothing.

    Examples
    --------
    >>> @shared_docs("scores")
    ... def spread(y_true, y_prob):
    ...     '''Difference of the mean scores.
    ...
    ...     Parameters
    ...     ----------
    ...     {scores}
    ...     '''
    >>> "Scores; higher means riskier." in spread.__doc__
    True
    """
    chosen = {name: DOCS[name] for name in names} | fragments

    def decorate(obj: T) -> T:
        if obj.__doc__ is not None:
            obj.__doc__ = render(obj.__doc__, chosen)
        return obj

    return decorate
