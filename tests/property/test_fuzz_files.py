"""Fuzzing check → train → score with messy files: every outcome is an exit status and a located message.

Hypothesis draws the shape of a file (how many rows, which columns of which
messy kind, how the headers are written, which role columns exist) and a seed
for the cells, which numpy fills in: a thousand cells per draw would make the
search slow without finding more. Each file goes through ``riskcore.cli.main``
in-process: ``check`` always, then ``train --quick --candidates logistic`` and
``score`` with the new bundle when the file has both classes and enough rows.

What must hold: each command returns an int exit status in {0, 1, 2}; no
exception other than a :class:`~riskcore.errors.RiskcoreError` escapes, and its
message, like every ``error:`` line on stderr, names a column or a row.
"""

from __future__ import annotations

import csv
import io
import re
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from riskcore.cli import main
from riskcore.errors import RiskcoreError

KINDS = ("number", "mixed", "money", "percent", "date", "all_missing", "constant", "category", "text1000",
         "count")
HEADERS = ("Ratio A", " ratio a ", "RATIO_A", "Net Margin %", "current ratio", "Current Ratio", "x", "X",
           "amount (EUR)", "Grade", "notes", "Opened", "city", "flag")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d-%b-%y", "%b %d, %Y", "%Y%m%d", "%d.%m.%Y %H:%M")
LABELS = {"01": ("1", "0", None), "yn": ("Y", "N", None), "words": ("CHGOFF", "P I F", "CHGOFF"),
          "bool": ("true", "false", None)}
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]


@dataclass(frozen=True)
class MessyFile:
    """The shape of one messy file; :meth:`render` fills in the cells from ``seed``."""

    n: int
    columns: tuple[tuple[str, str], ...]  # (header, kind)
    seed: int
    labels: str = "01"
    default_rate: float = 0.3
    one_class: bool = False
    id_column: bool = True
    time: str = "none"  # none | years | sparse_years | dates
    target_header: str = "default"

    def render(self) -> tuple[bytes, list[str], list[str]]:
        """(CSV bytes, header, CLI role options)."""
        rng = np.random.default_rng(self.seed)
        n = self.n
        header: list[str] = []
        cells: list[list[str]] = []
        if self.id_column:
            header.append("id")
            ids = [f"L{i:05d}" for i in range(n)]
            if n > 10 and rng.random() < 0.3:
                ids[-1] = ids[0]  # a duplicated key
            cells.append(ids)
        if self.time != "none":
            header.append("period")
            cells.append(_time_cells(rng, n, self.time))
        for name, kind in self.columns:
            header.append(name)
            cells.append(_cells(rng, n, kind))
        pos, neg, positive = LABELS[self.labels]
        y = np.zeros(n, dtype=bool) if self.one_class else rng.random(n) < self.default_rate
        if not self.one_class and n >= 2 and y.all() | (~y).all():
            y[0], y[1] = True, False
        target = [pos if v else neg for v in y]
        if n > 8 and rng.random() < 0.2:
            target[n // 2] = ""  # one outcome not filled in
        header.append(self.target_header)
        cells.append(target)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*cells))
        roles = ["--target", self.target_header.strip()]
        if positive:
            roles += ["--positive", positive]
        if self.id_column:
            roles += ["--id", "id"]
        if self.time != "none":
            roles += ["--time", "period"]
        return buf.getvalue().encode("utf-8"), header, roles

    @property
    def trainable(self) -> bool:
        """Both classes and at least 20 rows: worth sending to ``train``."""
        return not self.one_class and self.n >= 20


def _dates(rng: np.random.Generator, n: int, fmt: str, start: str = "1995-01-01", days: int = 9000) -> list[str]:
    base = np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")
    return [d.astype("datetime64[s]").item().strftime(fmt) for d in base]


def _time_cells(rng: np.random.Generator, n: int, kind: str) -> list[str]:
    if kind == "years":
        return [str(v) for v in rng.integers(2015, 2021, n)]
    if kind == "sparse_years":
        # one or two rows in each of a few early years, the rest in the last five
        early = [str(y) for y in range(1990, 1990 + min(4, max(n // 6, 1)))]
        late = [str(v) for v in rng.integers(2016, 2021, n - len(early))]
        return sorted(early + late)
    return _dates(rng, n, str(rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d 00:00:00"])), "2012-01-01", 3000)


def _cells(rng: np.random.Generator, n: int, kind: str) -> list[str]:
    if kind == "number":
        return [f"{v:.4g}" for v in rng.normal(1.5, 2.0, n)]
    if kind == "count":
        return [str(v) for v in rng.poisson(0.4, n)]
    if kind == "mixed":
        pool = np.array(["1.5", "abc", "", "n/a", "3", "-2", "1e3", "inf", "12,5", "  7 ", "N/A", "TRUE", "—"])
        return [str(v) if rng.random() < 0.5 else f"{rng.normal():.3f}" for v in rng.choice(pool, n)]
    if kind == "money":
        amounts = np.round(np.exp(rng.normal(9, 1.5, n)), 2)
        styles = ("${:,.2f}", "({:,.0f})", "-${:,.2f}", "{:,.2f}", "$ {:,.0f}", "€{:,.2f}")
        pick = rng.integers(0, len(styles), n) if rng.random() < 0.5 else np.zeros(n, dtype=int)
        return [styles[k].format(v) for v, k in zip(amounts, pick)]
    if kind == "percent":
        return [f"{v:.1f}%" if rng.random() < 0.9 else f"{v:.2f} %" for v in rng.normal(10, 8, n)]
    if kind == "date":
        return _dates(rng, n, str(rng.choice(DATE_FORMATS)))
    if kind == "all_missing":
        return [str(rng.choice(["", "", "NA"])) for _ in range(n)]
    if kind == "constant":
        return ["same"] * n if rng.random() < 0.5 else ["0"] * n
    if kind == "category":
        return [str(v) for v in rng.choice(["none", "personal", "corporate", "None", " personal", ""], n)]
    if kind == "text1000":
        levels = [f"City {i:04d}" for i in range(1000)]
        if n >= 1000:
            picked = levels + [str(v) for v in rng.choice(levels, n - 1000)]
            return [picked[i] for i in rng.permutation(n)]
        return [str(v) for v in rng.choice(levels, n, replace=False)]
    raise ValueError(kind)


@st.composite
def messy_files(draw: st.DrawFn, *, trainable: bool = False) -> MessyFile:
    """The shape of a messy file; ``trainable`` draws files with both classes and enough rows to train."""
    if trainable:
        n = draw(st.integers(60, 200))
    else:
        n = draw(st.one_of(st.integers(5, 30), st.integers(31, 120), st.integers(1000, 1100)))
    n_cols = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=n_cols, max_size=n_cols))
    if trainable:
        kinds = ["number", *kinds]  # something to learn from
    names = draw(st.lists(st.sampled_from(HEADERS), min_size=len(kinds), max_size=len(kinds)))
    if len(names) > 1 and draw(st.booleans()):
        names[-1] = names[0]  # a duplicated header
    return MessyFile(
        n=n,
        columns=tuple(zip(names, kinds)),
        seed=draw(st.integers(0, 2**32 - 1)),
        labels=draw(st.sampled_from(sorted(LABELS))),
        default_rate=draw(st.floats(0.3, 0.5) if trainable else st.floats(0.05, 0.6)),
        one_class=not trainable and draw(st.integers(0, 4)) == 0,
        id_column=draw(st.booleans()),
        time=draw(st.sampled_from(["none", "years", "sparse_years", "dates"])),
        target_header=draw(st.sampled_from(["default", "default", " Default ", "MIS_Status"])),
    )


# ---------------------------------------------------------------------------
# running the CLI
# ---------------------------------------------------------------------------

def _names_a_place(message: str, columns: list[str]) -> bool:
    """True when a message names a row or one of the file's columns."""
    low = message.lower()
    if re.search(r"\brows?\b", low):
        return True
    for c in columns:
        for form in {c, c.strip()}:
            if form and (repr(form).lower() in low or (len(form) >= 3 and form.lower() in low)):
                return True
    return False


def run_cli(argv: list[str], columns: list[str]) -> tuple[int, str, str]:
    """Run one command in-process; assert the exit status and the messages are of the allowed kinds."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
    except RiskcoreError as exc:
        assert _names_a_place(str(exc), columns), f"{argv[0]}: error names no column or row: {exc}"
        return 1, out.getvalue(), err.getvalue()
    note(f"{argv[0]} → {code!r}\n{out.getvalue()[-3000:]}\n{err.getvalue()[-2000:]}")
    assert isinstance(code, int) and not isinstance(code, bool) and code in (0, 1, 2), \
        f"{argv[0]}: exit status {code!r}"
    for line in err.getvalue().splitlines():
        if line.startswith("error:"):
            assert _names_a_place(line, columns), f"{argv[0]}: error line names no column or row: {line}"
    assert "Traceback" not in err.getvalue()
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory):
    """A state folder and audit trail of the module's own (the examples share them)."""
    root = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RISKCORE_HOME", str(root / "home"))
        mp.setenv("RISKCORE_AUDIT_URL", "sqlite:///" + str(root / "audit.db"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield root


_counter = iter(range(10**9))


def _write(root: Path, case: MessyFile) -> tuple[Path, list[str], list[str]]:
    data, header, roles = case.render()
    folder = root / f"case{next(_counter)}"
    folder.mkdir()
    path = folder / "messy.csv"
    path.write_bytes(data)
    note(f"case: {case!r}")
    note(f"file head:\n{data[:600].decode('utf-8', errors='replace')}")
    return path, header, roles


_BIG_TEXT = MessyFile(n=1050, columns=(("city", "text1000"), ("Ratio A", "number"), ("amount (EUR)", "money")),
                      seed=1, time="sparse_years")
_ONE_CLASS = MessyFile(n=12, columns=(("x", "mixed"), ("X", "percent")), seed=2, one_class=True, labels="yn")
_DUPLICATES = MessyFile(n=25, columns=(("Ratio A", "number"), ("Ratio A", "date"), (" ratio a ", "all_missing"),
                                       ("Grade", "constant")), seed=3, labels="words", time="dates")


@settings(max_examples=25, deadline=None, suppress_health_check=_QUIET)
@example(_BIG_TEXT)
@example(_ONE_CLASS)
@example(_DUPLICATES)
@given(case=messy_files())
def test_check_ends_with_an_exit_status_and_located_messages(fuzz_home, case):
    path, header, roles = _write(fuzz_home, case)
    run_cli(["check", "--data", str(path), *roles], header)


_TRAINABLE = MessyFile(n=120, columns=(("Ratio A", "number"), ("amount (EUR)", "money"), ("Grade", "category"),
                                       ("Opened", "date"), ("notes", "text1000")),
                       seed=4, labels="words", default_rate=0.4, time="sparse_years")


@settings(max_examples=8, deadline=None, suppress_health_check=_QUIET)
@example(_TRAINABLE)
@given(case=messy_files(trainable=True))
def test_train_then_score_end_with_exit_statuses_and_located_messages(fuzz_home, case):
    path, header, roles = _write(fuzz_home, case)
    run_cli(["check", "--data", str(path), *roles], header)
    code, out, _ = run_cli(["train", "--data", str(path), *roles, "--quick", "--no-mlflow",
                            "--candidates", "logistic"], header)
    event(f"train exit {code}")
    if code != 0:
        return
    bundle = re.search(r"^Bundle: (.+)$", out, re.M)
    assert bundle, f"train succeeded but named no bundle:\n{out}"
    code, _, _ = run_cli(["score", "--model", bundle.group(1).strip(), "--input", str(path),
                          "--output", str(path.with_name("scores.csv"))], header)
    event(f"score exit {code}")
    if code in (0, 1):
        assert path.with_name("scores.csv").exists()
