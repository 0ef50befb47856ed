"""A provisions run: a panel file and a model in, per-company stages and ECL and the portfolio's summary out, on record.

:func:`run_provisions` computes the provisions of the file a chunk of companies at a time
(:func:`riskcore.serving.provisions.provision_file`: flat memory for a file of any size; each company's
origination PD looked up in the audit trail's earliest recorded score of it), then, before any file appears,

1. records the as-of companies' 12-month scores (the base scenario's PD) with their inputs in the audit trail,
   as ``score`` does; each score's reasons trace the provision: the company's stage and its reason, its ECL
   (weighted, and per scenario) with the 12-month and lifetime PD and the term, and where its origination
   PD came from (``python -m riskcore audit find --company ID`` shows them with the inputs);
2. chains a :class:`~riskcore.serving.audit.ProvisionRecord` onto the trail: the as-of year, the standard, the
   method, the scenario weights, the ECL by stage, the request id of those scores, the SHA-256 of the input
   file and of every file written, and the folder;

and only then moves the files (written to temporary names first) into the output folder:

``companies.csv``
    per company: id, sector, stage, stage_reason, grade, pd_12m, lifetime_pd, origination_lifetime_pd,
    term_years, ead, ecl_<scenario> for each scenario, ecl (weighted), pd_12m_<scenario>, origination_year,
    origination_source;
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
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from riskcore.config import ProvisionRules
from riskcore.errors import DataFileError
from riskcore.evaluation.lifetime import against_truth
from riskcore.evaluation.provisions import stage_movements
from riskcore.modelling.bundle import ModelBundle
from riskcore.serving.audit import AuditLog, ProvisionRecord
from riskcore.serving.provisions import ProvisionRun, Scenario, as_of_year, provision_file

__all__ = ["ProvisionFiles", "compute_provisions", "run_provisions", "trace_reasons", "truth_by_grade"]

_WRITE_ROWS = 100_000
_AUDIT_ROWS = 5_000
_ORIGIN_WORDS = {"column": "the file's origination column", "file": "the company's earliest year in the file",
                 "audit trail": "the company's earliest score in the audit trail"}


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


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def _summaries(run: ProvisionRun, spec_segment: str | None, summary: dict[str, object],
               movements: pd.DataFrame | None) -> dict[str, bytes]:
    out = {"by_stage.csv": _csv(run.summary("stage")), "by_grade.csv": _csv(run.summary("grade")),
           "hazards.csv": _csv(run.hazards.frame()), "migration.csv": _csv(run.migration.frame())}
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


def _write_companies(frame: pd.DataFrame, path: Path) -> None:
    """``companies.csv`` through Arrow's CSV writer, a slice of rows at a time (a million companies in seconds)."""
    schema = pa.Schema.from_pandas(frame.iloc[:_WRITE_ROWS], preserve_index=False)
    with pa_csv.CSVWriter(str(path), schema) as writer:
        for start in range(0, max(len(frame), 1), _WRITE_ROWS):
            writer.write_table(pa.Table.from_pandas(frame.iloc[start:start + _WRITE_ROWS], schema=schema,
                                                    preserve_index=False))


def trace_reasons(run: ProvisionRun, standard_label: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per company scored now (rows ``start`` to ``stop``), the reasons its audit record carries.

    The stage and its reason, the ECL and the PDs, and where the origination PD came from, joined with ``"; "``
    as the trail stores reason codes, e.g. ``stage 2: lifetime PD 9.10% against 3.20% at origination (+184%,
    +5.90% points); ECL 1,234.56 IFRS 9 weighted (base 1,100.00, upside 980.00, downside 1,520.10), 12-month
    PD 2.10%, lifetime PD 9.10% over 5 years; origination lifetime PD 3.20% from the company's earliest score in
    the audit trail (2019)``.
    """
    f = run.companies.iloc[start:min(run.scored_now, run.scored_now if stop is None else stop)]
    ecl = f["ecl"].to_numpy(dtype=float)
    parts = [f"{s.name} " + pd.Series(f[f"ecl_{s.name}"].to_numpy(dtype=float)).map("{:,.2f}".format)
             for s in run.scenarios]
    per_scenario = parts[0].to_numpy(dtype=object) if parts else np.full(len(f), "", dtype=object)
    for extra in parts[1:]:
        per_scenario = per_scenario + ", " + extra.to_numpy(dtype=object)
    money = pd.Series(ecl).map("{:,.2f}".format).to_numpy(dtype=object)
    pd12 = pd.Series(f["pd_12m"].to_numpy(dtype=float)).map("{:.2%}".format).to_numpy(dtype=object)
    life = pd.Series(f["lifetime_pd"].to_numpy(dtype=float)).map("{:.2%}".format).to_numpy(dtype=object)
    term = pd.Series(f["term_years"].to_numpy(dtype=float)).map("{:g}".format).to_numpy(dtype=object)
    source = f["origination_source"].astype(str).to_numpy(dtype=object)
    year = f["origination_year"].astype("string").fillna("").to_numpy(dtype=object)
    known = f["origination_lifetime_pd"].notna().to_numpy()
    orig_pd = pd.Series(f["origination_lifetime_pd"].to_numpy(dtype=float)).map("{:.2%}".format).to_numpy(dtype=object)
    where = pd.Series(source).map(_ORIGIN_WORDS).fillna("the file").to_numpy(dtype=object)
    origin = np.where(known, "origination lifetime PD " + orig_pd + " from " + where
                      + np.where(year != "", " (" + year + ")", ""), "no origination PD")
    stage = ("stage " + f["stage"].astype(str) + ": " + f["stage_reason"].astype(str).str.replace(";", ",")).to_numpy(
        dtype=object)
    return (stage + "; ECL " + money + f" {standard_label} weighted (" + per_scenario + "), 12-month PD " + pd12
            + ", lifetime PD " + life + " over " + term + " years; " + origin)


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
    spec = bundle.spec
    id_column = spec.id or "id"
    earlier = _previous(previous, id_column) if previous is not None else None
    audit.check_writable()  # before any work: no record, no provisions
    as_of_year(as_of)
    folder = Path(out)
    with tempfile.TemporaryDirectory(prefix="riskcore-provisions-") as scratch:
        run, _ = provision_file(bundle, path, as_of, rules, scenarios=scenarios, standard=standard,
                                origination=partial(audit.origination, year_column=spec.time or "year"),
                                scratch=Path(scratch))
        companies = run.companies
        label = {"ifrs9": "IFRS 9", "cecl": "CECL"}.get(run.result.standard, run.result.standard)
        with audit.batch(source=face, caller=caller, model_version=bundle.version,
                         bundle_hash=bundle.manifest_hash, key=id_column) as batch:
            start = 0
            for part in run.inputs():
                for at in range(0, len(part), _AUDIT_ROWS):  # small adds: a large run's memory stays flat
                    inputs = part.iloc[at:at + _AUDIT_ROWS]
                    stop = start + len(inputs)
                    rows = companies.iloc[start:stop]
                    p = rows["pd_12m_base" if "pd_12m_base" in rows else "pd_12m"].to_numpy(dtype=float)
                    batch.add(rows[id_column].astype(str).to_numpy(dtype=object), inputs, p,
                              np.where(p >= bundle.threshold, "refer", "accept"), rows["grade"].astype(str).to_numpy(),
                              trace_reasons(run, label, start, stop))
                    start = stop
                del part
    by_stage = run.summary("stage")
    totals = {str(r["stage"]): {"companies": float(r["companies"]), "ead": float(r["ead"]), "ecl": float(r["ecl"])}
              for _, r in by_stage.iterrows()}
    input_sha256 = _sha256_file(path)
    summary: dict[str, object] = {
        "model_version": bundle.version, "as_of": run.as_of, "standard": run.result.standard,
        "method": rules.method, "scenarios": [{"name": s.name, "weight": s.weight, "shifts": s.shifts,
                                               "description": s.describe(spec)} for s in run.scenarios],
        "companies": int(len(companies)), "ecl": float(companies["ecl"].sum()),
        "ead": float(companies["ead"].sum()), "by_stage": totals, "history_rows": run.history_rows,
        "rejected_rows": run.rejected, "notes": list(run.notes), "scores_request": batch.request_id,
        "input_sha256": input_sha256,
        "origination_sources": {str(k): int(v) for k, v in companies["origination_source"].replace("", "none")
                                .value_counts().items()}}
    movements = None
    if earlier is not None:
        try:
            movements = stage_movements(earlier, companies, id_column)
        except ValueError as err:
            raise DataFileError(f"previous provisions run: {err}") from None
    files = _summaries(run, spec.segment, summary, movements)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / "companies.csv.tmp"
    try:
        _write_companies(companies, staged)
        hashes = {"companies.csv": _sha256_file(staged),
                  **{name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
        record = audit.record_event(ProvisionRecord(
            caller=caller, model_version=bundle.version, bundle_hash=bundle.manifest_hash, as_of=run.as_of,
            standard=run.result.standard, method=rules.method, scores_request=batch.request_id,
            input_sha256=input_sha256, outputs=hashes, folder=str(folder.resolve()),
            companies=int(len(companies)), ecl=float(companies["ecl"].sum()), by_stage=totals,
            weights={s.name: s.weight for s in run.scenarios}))
    except BaseException:
        staged.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    written = {"companies.csv": folder / "companies.csv"}
    os.replace(staged, written["companies.csv"])
    written.update({name: _write(folder, name, data) for name, data in files.items()})
    return ProvisionFiles(run, folder, written, record, movements)


def compute_provisions(bundle: ModelBundle, source: str | os.PathLike[str], *, as_of: str | int,
                       rules: ProvisionRules, scenarios: list[Scenario] | None = None,
                       standard: str | None = None) -> ProvisionRun:
    """Provisions of a panel file at an as-of date, computed and returned: nothing recorded, no file written.

    What the Provisions page shows (a view, as the Business impact page's is); :func:`run_provisions` is the run
    on record. The file is read a chunk of companies at a time; the origination PD is the file's own.

    Raises
    ------
    DataFileError
        When the file is missing or lacks the id, the year, the default flag, the as-of year or its history.
    """
    path = Path(source)
    if not path.is_file():
        raise DataFileError(f"input file {str(path)!r} does not exist; give the portfolio's panel (CSV, Excel or "
                            "Parquet) with the years before the as-of date")
    return provision_file(bundle, path, as_of, rules, scenarios=scenarios, standard=standard)[0]


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
