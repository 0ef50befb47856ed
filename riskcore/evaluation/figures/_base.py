"""What every figure data class shares: read-only arrays, the score columns of scored rows, stacked frames."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["Labelled", "freeze_arrays", "frozen", "scored_columns", "stack", "unstack"]


def frozen(values: ArrayLike, dtype: type | None = None) -> np.ndarray:
    """A read-only copy of ``values`` as an array (of ``dtype`` when given)."""
    out = np.array(values, dtype=dtype)
    out.setflags(write=False)
    return out


def freeze_arrays(figure: object) -> None:
    """Replace every array field of a frozen dataclass by a read-only copy (called from ``__post_init__``)."""
    for f in fields(figure):  # type: ignore[arg-type]
        value = getattr(figure, f.name)
        if isinstance(value, np.ndarray):
            object.__setattr__(figure, f.name, frozen(value))


class Labelled(Protocol):
    """A curve with a legend label and a tidy frame of its points."""

    @property
    def label(self) -> str:
        """The name of the curve in a legend."""

    def frame(self) -> pd.DataFrame:
        """The curve's points, one row each."""


F = TypeVar("F")


def stack(curves: Sequence[Labelled], column: str = "model") -> pd.DataFrame:
    """The frames of several curves one below the other, with each curve's label in a first column.

    Parameters
    ----------
    curves : sequence of curves
        Figure data of :mod:`riskcore.evaluation.figures` (at least one).
    column : str, default="model"
        The name of the label column.

    Returns
    -------
    pandas.DataFrame
        ``column`` then the columns of the curves' ``frame()``, with a fresh index.
    """
    parts = [c.frame() for c in curves]
    for c, part in zip(curves, parts):
        part.insert(0, column, c.label)
    return pd.concat(parts, ignore_index=True)


def unstack(frame: pd.DataFrame, build: Callable[[pd.DataFrame, str], F], column: str = "model") -> tuple[F, ...]:
    """Curves from a stacked frame (:func:`stack`), one per label in order of first appearance.

    Parameters
    ----------
    frame : pandas.DataFrame
        A stacked frame.
    build : callable
        A class's ``from_frame`` (e.g. ``CurveBand.from_frame``).
    column : str, default="model"
        The label column.

    Returns
    -------
    tuple
        ``build(rows of one label, label)`` for each label.
    """
    return tuple(build(part.drop(columns=column).reset_index(drop=True), str(label))
                 for label, part in frame.groupby(column, sort=False))


def scored_columns(rows: pd.DataFrame, columns: Mapping[str, str]) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """The outcomes of scored rows and each labelled score column, as floats."""
    return (rows["y"].to_numpy(dtype=float),
            [(label, rows[col].to_numpy(dtype=float)) for label, col in columns.items()])
