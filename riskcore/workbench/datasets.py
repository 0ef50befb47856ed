"""A user's data file and its contract: the demo layout recognised, or a spec inferred from the roles given.

Every face that reads a file to check or train on it goes through :func:`load_dataset`, so the
same file with the same options gets the same spec on the command line and on the dashboard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from riskcore.data.infer import extend_spec, infer_spec
from riskcore.data.schema import DEMO_SPEC, DatasetSpec
from riskcore.data.tabular import Source, Table, normalise_name, read_table

__all__ = ["DataRoles", "Dataset", "dataset_of", "load_dataset"]


@dataclass(frozen=True)
class DataRoles:
    """What the user said of a file's columns; empty for a file in the demo layout.

    ``target`` the 0/1 (or two-label) outcome; ``positive`` the label that means default when it is not
    0/1 or true/false; ``id``, ``time``, ``segment``, ``exposure`` the company id, fiscal year or date,
    breakdown segment and exposure-at-default columns; ``drop`` columns left out of the features;
    ``features`` columns used as features even when they look like identifiers (a loan number is left out
    otherwise, see :mod:`riskcore.data.identifiers`).
    """

    target: str | None = None
    positive: str | None = None
    id: str | None = None
    time: str | None = None
    segment: str | None = None
    exposure: str | None = None
    drop: tuple[str, ...] = field(default_factory=tuple)
    features: tuple[str, ...] = field(default_factory=tuple)

    @property
    def explicit(self) -> bool:
        """Whether any column role was named (the positive label, dropped columns and features are not roles)."""
        return any((self.target, self.id, self.time, self.segment, self.exposure))


@dataclass(frozen=True)
class Dataset:
    """A file read once, with the data contract it is checked, trained or scored against."""

    table: Table
    spec: DatasetSpec
    roles: DataRoles
    path: Path | None = None

    def describe(self) -> str:
        """One line on what was read: rows, columns, format."""
        return self.table.info.describe()


def load_dataset(source: Source, roles: DataRoles | None = None, *, sheet: str | None = None,
                 spec: DatasetSpec | None = None, max_bytes: int | None = None) -> Dataset:
    """Read a data file and decide its contract: the demo layout when recognised, else inferred from ``roles``.

    Parameters
    ----------
    source : a CSV, Excel (``.xlsx``) or Parquet file: its path, or its bytes (an upload).
    roles : the columns' roles the user named (default none: the demo layout, or inferred).
    sheet : the Excel sheet to read (default the first).
    spec : the contract to use as it is (a model's), instead of deciding one.
    max_bytes : refuse a larger file.

    Returns
    -------
    Dataset

    Raises
    ------
    riskcore.errors.DataFileError
        When the file cannot be read, or a named column is missing.
    """
    table = read_table(source, sheet=sheet, max_bytes=max_bytes)
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    return dataset_of(table, roles, spec=spec, path=path)


def dataset_of(table: Table, roles: DataRoles | None = None, *, spec: DatasetSpec | None = None,
               path: Path | None = None) -> Dataset:
    """A table already read, with its contract decided as :func:`load_dataset` decides it (or ``spec``)."""
    roles = roles or DataRoles()
    if spec is not None:
        return Dataset(table, spec, roles, path)
    cols = {normalise_name(c) for c in table.frame.columns}
    demo_cols = {normalise_name(c) for c in (*DEMO_SPEC.feature_names, DEMO_SPEC.id or "", DEMO_SPEC.time or "")}
    if demo_cols <= cols and (not roles.explicit or roles.target in (None, DEMO_SPEC.target)):
        spec = extend_spec(DEMO_SPEC, table.frame, decimal=table.info.decimal, features=roles.features)
        if roles.drop:
            spec = spec.without_features(tuple(roles.drop))
    else:
        spec = infer_spec(table.frame, target=roles.target, id=roles.id, time=roles.time, segment=roles.segment,
                          exposure=roles.exposure, positive=roles.positive, drop=tuple(roles.drop),
                          features=tuple(roles.features), decimal=table.info.decimal)
    return Dataset(table, spec, roles, path)
