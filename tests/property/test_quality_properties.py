"""The quality report finds exactly what the generator injected, whatever the seed and size."""

from hypothesis import given, settings
from hypothesis import strategies as st

from riskcore.data.quality import check_frame
from riskcore.data.schema import DEMO_SPEC
from riskcore.data.synth import generate_portfolio


@settings(max_examples=8)
@given(st.integers(250, 700), st.integers(0, 10_000), st.integers(0, 20), st.integers(0, 40), st.integers(0, 20))
def test_report_matches_manifest(n_companies, seed, n_dup, n_out, n_imp):
    p = generate_portfolio(n_companies, seed=seed, n_duplicates=n_dup, n_outliers=n_out, n_impossible=n_imp)
    m = p.manifest
    report = check_frame(p.frame, DEMO_SPEC)
    cells = report.cells
    key = lambda d: (f"{d['id']} {d['year']}", d["column"])  # noqa: E731
    got = lambda check: set(zip(cells.loc[cells.check == check, "id"], cells.loc[cells.check == check, "column"]))  # noqa: E731
    assert got("range") == {key(d) for d in m.impossible}
    assert got("outlier") == {key(d) for d in m.outliers}
    assert sorted(report.duplicates["id"]) == sorted(f"{a} {b}" for a, b in m.duplicates)
    assert not any(f.check == "duplicate_key" for f in report.findings)
    esg = p.frame["esg_governance"].isna()
    assert set(zip(p.frame.loc[esg, "company_id"], p.frame.loc[esg, "fiscal_year"])) == set(m.esg_missing)
    assert report.has_problems == bool(n_dup or n_out or n_imp)
