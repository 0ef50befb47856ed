"""A provisions run: a panel file and a model in, per-company stages and ECL and the portfolio's summary out, on record.

:func:`run_provisions` reads the file, computes the provisions (:func:`riskcore.serving.provisions.provision_frame`),
then, before any file appears,

1. records the as-of companies' 12-month scores (the base scenario's PD) with their inputs in the audit trail,
   as ``score`` does (each score's reason is the company's stage and its reason);
2. chains a :class:`~riskcore.serving.audit.ProvisionRecord` onto the trail: the as-of year, the standard, the
   method, the scenario weights, the ECL by stage, the request id of those scores and the SHA-256 of the input
   file and of every file written;

and only then writes the files (each atomically) into the output folder:

``companies.csv``
    per company: id, sector, stage, stage_reason, grade, pd_12m, lifetime_pd, origination_lifetime_pd,
    term_years, ead, ecl_<scenario> for each scenario, ecl (weighted), pd_12m_<scenario>;
``by_stage.csv``, ``by_grade.csv``, ``by_sector.csv``
    companies, EAD, ECL (weighted and per scenario) and coverage, with a total row;
``hazards.csv``, ``migration.csv``
    the term structures, as estimated on the years before the as-of year;
``stage_movements.csv``
    with a previous run (its folder or its ``companies.csv``): companies and ECL from each stage to each stage,
    ``new`` and ``gone`` included (:func:`riskcore.evaluation.provisions.stage_movements`);
``summary.json``
    the run: model, as-of year, standard, method, scenarios (weights and macro moves), totals, the audit ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskcore.config import ProvisionRules
from riskcore.data.tabular import read_table
from riskcore.errors import DataFileError
from riskcore.evaluation.lifetime import against_truth
from riskcore.evaluation.provisions import stage_movements
from riskcore.modelling.bundle import ModelBundle
from riskcore.serving.audit import AuditLog, ProvisionRecord
from riskcore.serving.provisions import ProvisionRun, Scenario, provision_frame, row_years

__all__ = ["ProvisionFiles", "compute_provisions", "run_provisions", "truth_by_grade"]


@dataclass(frozen=True)
class ProvisionFiles:
    """What a provisions run left: the run, the folder and its files, its record, the stage movements (or None)."""

    run: ProvisionRun
    folder: Path
    files: dict[str, Path]
    record: ProvisionRecord
    movements: pd.DataFrame | None = None


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def _previous(path: str | os.PathLike[str], id_column: str) -> pd.DataFrame:
    """A previous run's companies table, from its folder or its ``companies.csv``."""
    file = Path(path) / "companies.csv" if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise DataFileError(f"previous provisions run {str(path)!r} not found; give the folder a provisions run "
                            "wrote, or its companies.csv")
    try:
        frame = pd.read_csv(file, dtype={id_column: str})
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataFileError(f"previous provisions run {str(file)!r} cannot be read: {err}") from None
    return frame


def _outputs(run: ProvisionRun, spec_segment: str | None, summary: dict[str, object],
             movements: pd.DataFrame | None) -> dict[str, bytes]:
    out = {"companies.csv": _csv(run.companies), "by_stage.csv": _csv(run.summary("stage")),
           "by_grade.csv": _csv(run.summary("grade")), "hazards.csv": _csv(run.hazards.frame()),
           "migration.csv": _csv(run.migration.frame())}
    if spec_segment and spec_segment in run.companies:
        out[f"by_{spec_segment}.csv"] = _csv(run.summary(spec_segment))
    if movements is not None:
        out["stage_movements.csv"] = _csv(movements)
    out["summary.json"] = json.dumps(summary, indent=1, sort_keys=True).encode("utf-8")
    return out


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def run_provisions(bundle: ModelBundle, source: str | os.PathLike[str], *, as_of: str | int,
                   out: str | os.PathLike[str], rules: ProvisionRules, audit: AuditLog, caller: str, face: str = "cli",
                   scenarios: list[Scenario] | None = None, standard: str | None = None,
                   previous: str | os.PathLike[str] | None = None) -> ProvisionFiles:
    """Provisions of a panel file at an as-of date, recorded in the audit trail, then written (module notes).

    Raises
    ------
    DataFileError
        When the file cannot be read, or lacks the id, the year, the default flag or the as-of year.
    ConfigError
        When the as-of date is not a date.
    AuditError
        When the audit trail cannot be written: no file is written then.
    """
    path = Path(source)
    if not path.is_file():
        raise DataFileError(f"input file {str(path)!r} does not exist; give the portfolio's panel (CSV, Excel or "
                            "Parquet) with the years before the as-of date")
    earlier = _previous(previous, bundle.spec.id or "id") if previous is not None else None
    audit.check_writable()  # before any work: no record, no provisions
    raw = path.read_bytes()
    table = read_table(raw)
    run = provision_frame(bundle, table.frame, as_of, rules, scenarios=scenarios, standard=standard)
    spec = bundle.spec
    companies = run.companies
    live = companies["stage"] < 3
    book = table.frame.assign(_id=table.frame[spec.id].astype(str))
    book = book[(row_years(book[spec.time or "year"], spec) == run.as_of).to_numpy()].drop_duplicates("_id")
    book = book.set_index("_id").reindex(companies.loc[live, spec.id or "id"].astype(str))
    inputs = book[[c for c in spec.feature_names if c in book]].reset_index(drop=True)
    p = companies.loc[live, "pd_12m_base" if "pd_12m_base" in companies else "pd_12m"].to_numpy(float)
    with audit.batch(source=face, caller=caller, model_version=bundle.version,
                     bundle_hash=bundle.manifest_hash) as batch:
        if live.any():
            batch.add(companies.loc[live, spec.id or "id"].astype(str).to_numpy(), inputs, p,
                      ["refer" if x >= bundle.threshold else "accept" for x in p],
                      companies.loc[live, "grade"].astype(str).to_numpy(),
                      ("stage " + companies.loc[live, "stage"].astype(str) + ": "
                       + companies.loc[live, "stage_reason"].astype(str)).to_numpy())
    by_stage = run.summary("stage")
    totals = {str(r["stage"]): {"companies": float(r["companies"]), "ead": float(r["ead"]), "ecl": float(r["ecl"])}
              for _, r in by_stage.iterrows()}
    summary: dict[str, object] = {
        "model_version": bundle.version, "as_of": run.as_of, "standard": run.result.standard,
        "method": rules.method, "scenarios": [{"name": s.name, "weight": s.weight, "shifts": s.shifts,
                                               "description": s.describe(spec)} for s in run.scenarios],
        "companies": int(len(companies)), "ecl": float(companies["ecl"].sum()),
        "ead": float(companies["ead"].sum()), "by_stage": totals, "history_rows": run.history_rows,
        "rejected_rows": run.rejected, "notes": list(run.notes), "scores_request": batch.request_id,
        "input_sha256": hashlib.sha256(raw).hexdigest()}
    movements = None
    if earlier is not None:
        try:
            movements = stage_movements(earlier, companies, spec.id or "id")
        except ValueError as err:
            raise DataFileError(f"previous provisions run: {err}") from None
    files = _outputs(run, spec.segment, summary, movements)
    record = audit.record_event(ProvisionRecord(
        caller=caller, model_version=bundle.version, bundle_hash=bundle.manifest_hash, as_of=run.as_of,
        standard=run.result.standard, method=rules.method, scores_request=batch.request_id,
        input_sha256=hashlib.sha256(raw).hexdigest(),
        outputs={name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
        folder=str(Path(out).resolve()),
        companies=int(len(companies)), ecl=float(companies["ecl"].sum()), by_stage=totals,
        weights={s.name: s.weight for s in run.scenarios}))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = {name: _write(folder, name, data) for name, data in files.items()}
    return ProvisionFiles(run, folder, written, record, movements)


def compute_provisions(bundle: ModelBundle, source: str | os.PathLike[str], *, as_of: str | int,
                       rules: ProvisionRules, scenarios: list[Scenario] | None = None,
                       standard: str | None = None) -> ProvisionRun:
    """Provisions of a panel file at an as-of date, computed and returned: nothing recorded, no file written.

    What the Provisions page shows (a view, as the Business impact page's is); :func:`run_provisions` is the run
    on record.

    Raises
    ------
    DataFileError
        When the file is missing or lacks the id, the year, the default flag, the as-of year or its history.
    """
    path = Path(source)
    if not path.is_file():
        raise DataFileError(f"input file {str(path)!r} does not exist; give the portfolio's panel (CSV, Excel or "
                            "Parquet) with the years before the as-of date")
    return provision_frame(bundle, read_table(path.read_bytes()).frame, as_of, rules, scenarios=scenarios,
                           standard=standard)


def truth_by_grade(run: ProvisionRun, truth: pd.DataFrame, id_column: str) -> pd.DataFrame | None:
    """The run's term structures against a known truth, per grade and year ahead (both methods).

    Parameters
    ----------
    run : a run at the year the truth starts from (``truth``'s ``fiscal_year``).
    truth : ``true_lifetime_pd``'s frame: the id, ``fiscal_year`` and ``true_cum_pd_1`` … ``true_cum_pd_<k>``.

    Returns
    -------
    pandas.DataFrame or None
        :func:`~riskcore.evaluation.lifetime.against_truth` on the companies of both (not in default), the years
        capped at the term structures' horizon; ``None`` when the truth is of another year or no company is in both.
    """
    years = sorted({int(y) for y in truth["fiscal_year"]}) if "fiscal_year" in truth else []
    if years != [run.as_of] or id_column not in truth:
        return None
    horizon = min(run.hazards.horizon, len([c for c in truth if str(c).startswith("true_cum_pd_")]))
    live = run.companies[run.companies["stage"] < 3]
    both = live[[id_column, "pd_12m_base" if "pd_12m_base" in live else "pd_12m"]].astype({id_column: str}).merge(
        truth.astype({id_column: str}), on=id_column)
    if both.empty or horizon < 1:
        return None
    cumulative = both[[f"true_cum_pd_{k}" for k in range(1, horizon + 1)]].to_numpy(dtype=float)
    return against_truth(both.iloc[:, 1].to_numpy(dtype=float), np.asarray(cumulative), hazards=run.hazards,
                         migration=run.migration)
