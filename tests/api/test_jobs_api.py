"""Jobs over the API: a portfolio uploaded (CSV, Excel, Parquet), scored by a worker, polled, downloaded, cancelled.

The jobs run in the test's process (``Worker(bench).run_one()`` on the app's own workbench), so each test sees
every step: the 202 and its ``Location``, the job's state, its files, the audit request behind its scores. Who
may see what (a caller its own jobs, ``all_jobs`` every caller's), the answers of a wrong upload (413, 415, 422,
nothing left behind), and that no answer names a path of the server.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile
from dataclasses import replace
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from apitools import header
from fastapi.testclient import TestClient

from riskcore.modelling.bundle import load_bundle
from riskcore.workbench import Worker

ROWS = 30


@pytest.fixture
def portfolio(small_portfolio) -> pd.DataFrame:
    """Thirty company-years of the portfolio the served model was trained on."""
    return small_portfolio.frame.head(ROWS).reset_index(drop=True)


class Api:
    """A TestClient on the app whose every answer is checked for the server's paths."""

    def __init__(self, client: TestClient, *forbidden: str) -> None:
        self.client = client
        self.bench = client.app.state.riskcore.bench
        self.forbidden = [f for f in forbidden if f]

    def call(self, method: str, url: str, key: str | None = None, **kwargs: Any):
        headers = {**(header(key) if key else {}), **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        for path in self.forbidden:
            assert path not in response.text, f"{path!r} leaked in {response.text[:300]}"
        return response

    def upload(self, key: str, content: bytes, name: str = "portfolio.csv", **fields: str):
        return self.call("POST", "/jobs/score", key, files={"file": (name, content, "application/octet-stream")},
                         data=fields)

    def run(self):
        """Run the next queued job here; the job as it ended (None when none was waiting)."""
        return Worker(self.bench, name="test-worker").run_one()

    def folders(self) -> list[str]:
        root = self.bench.settings.jobs_dir
        return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture
def api(make_client, settings) -> Api:
    return Api(make_client(), str(settings.home), str(settings.home.resolve()))


def _says(response) -> str:
    """The words of an error: its detail, or each invalid field's message."""
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " ".join(f"{d['loc']} {d['msg']}" for d in detail)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _xlsx(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_excel(out, index=False, engine="openpyxl")
    return out.getvalue()


def _parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def _scored(api: Api, key: str, content: bytes, name: str = "portfolio.csv", **fields: str) -> dict[str, Any]:
    """Upload, run the job here, and return its view once it has ended."""
    r = api.upload(key, content, name, **fields)
    assert r.status_code == 202, r.text
    assert api.run().id == r.json()["id"]
    view = api.call("GET", r.headers["location"], key)
    assert view.status_code == 200
    return view.json()


# -- the happy path ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,write", [("portfolio.csv", _csv), ("portfolio.xlsx", _xlsx),
                                        ("portfolio.parquet", _parquet)], ids=["csv", "excel", "parquet"])
def test_an_upload_is_scored_by_a_worker_and_every_score_is_recorded(api, keys, keystore, audit, bundle, portfolio,
                                                                     name, write):
    r = api.upload(keys["service"], write(portfolio), name)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}" == job["url"]
    assert (job["state"], job["kind"], job["name"], job["attempts"]) == ("queued", "score", name, 0)
    assert job["result_url"] is None and job["rejects_url"] is None
    service = next(k.id for k in keystore.keys() if k.role == "service")
    assert job["caller"] == service

    ended = api.run()
    assert ended.state == "succeeded", ended.error
    view = api.call("GET", f"/jobs/{job['id']}", keys["service"]).json()
    assert view["state"] == "succeeded" and view["finished"] >= view["started"] >= view["created"]
    result = view["result"]
    assert (result["rows"], result["scored"], result["rejected"]) == (ROWS, ROWS, 0)
    assert result["model_version"] == bundle.version and result["format"] == "csv"
    assert view["progress"]["fraction"] == 1.0 and view["progress"]["rows_scored"] == ROWS
    assert view["result_url"] == f"/jobs/{job['id']}/result"

    download = api.call("GET", view["result_url"], keys["service"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert f'filename="{job["id"]}-scored.csv"' in download.headers["content-disposition"]
    scored = pd.read_csv(io.BytesIO(download.content))
    assert scored["company_id"].tolist() == portfolio["company_id"].tolist()
    assert scored["p_default"].between(0, 1).all() and (scored["model_version"] == bundle.version).all()

    rows = audit.recent(10_000)  # one request, holding every score of the job, under the job's caller
    assert set(rows["request_id"]) == {result["request_id"]} and len(rows) == ROWS
    assert set(rows["caller"]) == {service} and set(rows["source"]) == {"api"}
    recorded = rows.set_index("company_id")["p_default"]
    assert recorded.loc[scored["company_id"]].to_numpy() == pytest.approx(scored["p_default"].to_numpy())
    assert audit.verify().ok


def test_the_form_chooses_the_sheet_the_reasons_and_the_lgd(api, keys, portfolio):
    book = io.BytesIO()
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        portfolio.head(3).to_excel(writer, sheet_name="Notes", index=False)
        portfolio.to_excel(writer, sheet_name="Book", index=False)
    plain = _scored(api, keys["service"], book.getvalue(), "book.xlsx", sheet="Book")
    chosen = _scored(api, keys["service"], book.getvalue(), "book.xlsx", sheet="Book", explain="true", lgd="0.45")
    assert plain["result"]["scored"] == chosen["result"]["scored"] == ROWS  # not the first sheet's three

    def scored(view):
        return pd.read_csv(io.BytesIO(api.call("GET", view["result_url"], keys["service"]).content))

    before, after = scored(plain), scored(chosen)
    assert after["p_default"].to_numpy() == pytest.approx(before["p_default"].to_numpy())
    assert after["expected_loss"].to_numpy() == pytest.approx(
        (after["p_default"] * 0.45 * portfolio["exposure_eur"]).to_numpy())
    assert set(after.columns) - set(before.columns)  # the reason codes
    missing = _scored(api, keys["service"], book.getvalue(), "book.xlsx", sheet="Nope")
    assert missing["state"] == "failed" and "no sheet 'Nope'" in missing["error"]


def test_the_result_as_parquet_holds_the_rows_of_the_csv(api, keys, audit, portfolio):
    as_csv = _scored(api, keys["service"], _csv(portfolio))
    as_parquet = _scored(api, keys["service"], _csv(portfolio), format="parquet")
    assert as_parquet["result"]["format"] == "parquet"
    download = api.call("GET", as_parquet["result_url"], keys["service"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/vnd.apache.parquet"
    assert download.headers["content-disposition"].endswith('-scored.parquet"')
    table = pq.read_table(io.BytesIO(download.content)).to_pandas()
    csv = pd.read_csv(io.BytesIO(api.call("GET", as_csv["result_url"], keys["service"]).content))
    assert len(table) == len(csv) == ROWS
    assert table["company_id"].tolist() == csv["company_id"].tolist()
    assert table["p_default"].to_numpy() == pytest.approx(csv["p_default"].to_numpy())
    requests = set(audit.recent(10_000)["request_id"])  # each job is its own audit request
    assert requests == {as_csv["result"]["request_id"], as_parquet["result"]["request_id"]}
    assert audit.verify().ok


def test_invalid_rows_go_to_the_reject_report_and_the_others_are_scored(api, keys, audit, portfolio):
    frame = portfolio.astype({"current_ratio": object})
    frame.loc[[2, 5], "current_ratio"] = "n/a"
    frame.loc[7, "company_id"] = None
    view = _scored(api, keys["service"], _csv(frame))
    assert view["state"] == "succeeded"
    assert (view["result"]["scored"], view["result"]["rejected"]) == (ROWS - 3, 3)
    assert view["progress"]["rows_rejected"] == 3
    rejects = api.call("GET", view["rejects_url"], keys["service"])
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    report = pd.read_csv(io.BytesIO(rejects.content))
    assert sorted(report["row"]) == [3, 6, 8]  # rows as a spreadsheet numbers them under the header
    assert set(report["column"]) == {"current_ratio", "company_id"}
    scored = pd.read_csv(io.BytesIO(api.call("GET", view["result_url"], keys["service"]).content))
    assert len(scored) == ROWS - 3 and not set(scored["row"]) & {3, 6, 8}
    assert len(audit.recent(10_000)) == ROWS - 3 and audit.verify().ok


def test_scored_and_rejected_cells_cannot_run_as_spreadsheet_formulas(api, keys, portfolio):
    frame = portfolio.astype({"current_ratio": object})
    frame.loc[0, "company_name"] = '=HYPERLINK("http://evil.example","x")'
    frame.loc[1, "company_name"] = "@SUM(A1:A9)"
    frame.loc[2, "company_name"] = "+1+cmd|' /C calc'!A0"
    frame.loc[3, "current_ratio"] = "=1+1"
    view = _scored(api, keys["service"], _csv(frame))
    scored = pd.read_csv(io.BytesIO(api.call("GET", view["result_url"], keys["service"]).content))
    names = scored.set_index("company_id")["company_name"]
    assert names[frame.loc[0, "company_id"]] == "'" + frame.loc[0, "company_name"]
    assert names[frame.loc[1, "company_id"]] == "'@SUM(A1:A9)"
    assert names[frame.loc[2, "company_id"]] == "'+1+cmd|' /C calc'!A0"
    report = pd.read_csv(io.BytesIO(api.call("GET", view["rejects_url"], keys["service"]).content))
    assert report["value"].tolist() == ["'=1+1"]


# -- what an upload may not be -------------------------------------------------------------------

def test_a_file_over_the_upload_limit_is_413_and_leaves_nothing(make_client, settings, keys, portfolio):
    api = Api(make_client(jobs=replace(settings.jobs, upload_max_mb=1)), str(settings.home))
    big = _csv(pd.concat([portfolio] * 200))  # about 2 MB: over the file's limit, inside the body's slack
    assert 1_000_000 < len(big) < 2_000_000
    r = api.upload(keys["service"], big)
    assert r.status_code == 413, r.text
    assert "larger than 1 MB" in r.json()["detail"] and "[jobs] upload_max_mb" in r.json()["detail"]
    huge = big * 2  # over the body limit itself: refused before it is read, in the same words
    r2 = api.upload(keys["service"], huge)
    assert r2.status_code == 413 and r2.json()["detail"] == r.json()["detail"]
    # a body over its cap without a Content-Length, though its file is small: counted as it arrives
    field = b'--xyz\r\nContent-Disposition: form-data; name="sheet"\r\n\r\n' + b"s" * 190 + b"\r\n"
    body = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="small.csv"\r\n\r\n'
            + _csv(portfolio) + b"\r\n" + field * 12_000 + b"--xyz--\r\n")
    assert len(body) > 2_100_000
    chunked = api.call("POST", "/jobs/score", keys["service"], headers={"content-type": "multipart/form-data; "
                                                                                   "boundary=xyz"},
                       content=(body[i:i + 65536] for i in range(0, len(body), 65536)))  # no Content-Length
    assert chunked.status_code == 413 and chunked.json()["detail"] == r.json()["detail"]
    assert api.folders() == [] and api.bench.jobs() == []
    assert api.upload(keys["service"], _csv(portfolio)).status_code == 202  # a file under it still goes


def test_the_media_type_is_read_without_regard_to_case(api, keys, portfolio):
    body = (b'--AbC\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n\r\n' + _csv(portfolio)
            + b"\r\n--AbC--\r\n")
    r = api.call("POST", "/jobs/score", keys["service"], content=body,
                 headers={"content-type": "Multipart/Form-Data; boundary=AbC"})
    assert r.status_code == 202, r.text
    assert api.run().state == "succeeded"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/mixed; b=x",
                                          "application/jsonl", None])
def test_a_body_that_is_neither_multipart_nor_json_is_415(api, keys, content_type):
    headers = {**header(keys["service"]), **({"content-type": content_type} if content_type else {})}
    r = api.client.post("/jobs/score", content=b"company_id,roa\nC1,0.1\n", headers=headers)
    assert r.status_code == 415, r.text
    assert "multipart/form-data" in r.json()["detail"]
    assert api.folders() == []


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _workbook_without_sheets() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


BAD_UPLOADS = {
    "no file field": ({"raw": b'--xyz\r\nContent-Disposition: form-data; name="format"\r\n\r\ncsv\r\n--xyz--\r\n'},
                      "no file"),
    "an unknown field": ({"fields": {"colour": "red"}}, "['body', 'colour'] unknown form field"),
    "a bad format": ({"fields": {"format": "xlsx"}}, "['body', 'format'] Input should be 'csv' or 'parquet'"),
    "an empty format": ({"fields": {"format": ""}}, "['body', 'format']"),
    "a bad lgd": ({"fields": {"lgd": "1.5"}}, "['body', 'lgd'] lgd must be a share between 0 and 1"),
    "an lgd that is not a number": ({"fields": {"lgd": "half"}}, "lgd must be a share between 0 and 1"),
    "an lgd in another notation": ({"fields": {"lgd": "4.5e-1"}}, "lgd must be a share between 0 and 1"),
    "a bad explain": ({"fields": {"explain": "maybe"}}, "['body', 'explain'] Input should be 'true', 'false'"),
    "a sheet name too long": ({"fields": {"sheet": "s" * 201}}, "['body', 'sheet']"),
    "a model that is a path": ({"fields": {"model": "/etc"}}, "model must be champion or a model version"),
    "two files": ({"two": True}, "one file per job"),
    "a binary file": ({"content": PNG, "name": "logo.png"}, "logo.png cannot be scored: this file is not a CSV"),
    "an empty file": ({"content": b"", "name": "empty.csv"}, "the file is empty"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_a_bad_upload_is_422_and_its_folder_is_removed(api, keys, portfolio, case):
    spec, message = BAD_UPLOADS[case]
    if "raw" in spec:
        r = api.call("POST", "/jobs/score", keys["service"], content=spec["raw"],
                     headers={"content-type": "multipart/form-data; boundary=xyz"})
    elif spec.get("two"):
        r = api.call("POST", "/jobs/score", keys["service"],
                     files=[("file", ("a.csv", _csv(portfolio))), ("file", ("b.csv", _csv(portfolio)))])
    else:
        r = api.upload(keys["service"], spec.get("content", _csv(portfolio)), spec.get("name", "portfolio.csv"),
                       **spec.get("fields", {}))
    assert r.status_code == 422, r.text
    assert message in _says(r), r.text
    assert api.folders() == [] and api.bench.jobs() == []


def test_a_multipart_body_without_a_boundary_or_cut_short_is_422(api, keys):
    r = api.call("POST", "/jobs/score", keys["service"], content=b"x",
                 headers={"content-type": "multipart/form-data"})
    assert r.status_code == 422 and "boundary" in _says(r)
    r = api.call("POST", "/jobs/score", keys["service"], content=b"--xyz\r\nnot a header line\r\n",
                 headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 422, r.text
    assert api.folders() == [] and api.bench.jobs() == []


def test_a_workbook_that_cannot_be_opened_fails_its_job_in_words(api, keys):
    view = _scored(api, keys["service"], _workbook_without_sheets(), "book.xlsx")
    assert view["state"] == "failed" and "Excel workbook could not be opened" in view["error"]
    assert view["result_url"] is None
    r = api.call("GET", f"/jobs/{view['id']}/result", keys["service"])
    assert r.status_code == 409 and "failed" in r.json()["detail"]


# -- who sees what -------------------------------------------------------------------------------

def test_a_caller_sees_its_own_jobs_and_admin_sees_all(api, keystore, keys, portfolio):
    other = keystore.add("service", "another service")[1]
    mine = api.upload(keys["service"], _csv(portfolio)).json()
    theirs = api.upload(other, _csv(portfolio)).json()
    for url in (f"/jobs/{mine['id']}", f"/jobs/{mine['id']}/result", f"/jobs/{mine['id']}/rejects"):
        r = api.call("GET", url, other)
        assert r.status_code == 404 and "no job" in r.json()["detail"]
    assert api.call("DELETE", f"/jobs/{mine['id']}", other).status_code == 404
    assert [j["id"] for j in api.call("GET", "/jobs", other).json()["jobs"]] == [theirs["id"]]
    assert [j["id"] for j in api.call("GET", "/jobs", keys["service"]).json()["jobs"]] == [mine["id"]]
    assert api.call("GET", "/jobs?all=true", keys["service"]).status_code == 403

    assert api.call("GET", "/jobs", keys["admin"]).json()["jobs"] == []  # admin's own: none
    every = api.call("GET", "/jobs?all=true", keys["admin"]).json()["jobs"]
    assert [j["id"] for j in every] == [theirs["id"], mine["id"]]  # newest first
    assert api.call("GET", "/jobs?all=true&limit=1", keys["admin"]).json()["jobs"][0]["id"] == theirs["id"]
    assert api.call("GET", "/jobs?all=true&kind=retrain", keys["admin"]).json()["jobs"] == []
    assert api.call("GET", f"/jobs/{mine['id']}", keys["admin"]).status_code == 200
    for bad in ("/jobs/not-a-job-id", "/jobs/" + "0" * 32, "/jobs/" + "Z" * 32):
        assert api.call("GET", bad, keys["admin"]).status_code == 404


def test_roles_that_may_not_score_cannot_submit(api, keys, portfolio):
    for role in ("viewer", "analyst"):
        r = api.upload(keys[role], _csv(portfolio))
        assert r.status_code == 403 and f"role {role!r}" in r.json()["detail"]
    assert api.call("GET", "/jobs", keys["viewer"]).status_code == 403
    assert api.call("POST", "/jobs/retrain", keys["viewer"]).status_code == 403
    assert api.call("POST", "/jobs/retrain", keys["service"]).status_code == 403
    assert api.call("POST", "/jobs/score").status_code == 401
    assert api.folders() == []


def test_analyst_starts_the_retraining_loop_once(api, keystore, keys):
    first = api.call("POST", "/jobs/retrain", keys["analyst"])
    assert first.status_code == 202 and first.headers["location"] == f"/jobs/{first.json()['id']}"
    assert (first.json()["kind"], first.json()["state"]) == ("retrain", "queued")
    again = api.call("POST", "/jobs/retrain", keys["analyst"])
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    # another analyst is given the run already waiting, and may follow it
    colleague = keystore.add("analyst", "colleague")[1]
    theirs = api.call("POST", "/jobs/retrain", colleague).json()
    assert theirs["id"] == first.json()["id"]
    assert api.call("GET", theirs["url"], colleague).json()["state"] == "queued"
    assert api.call("GET", theirs["url"], keys["service"]).status_code == 404  # not a service's business
    assert [j["id"] for j in api.call("GET", "/jobs?kind=retrain", keys["analyst"]).json()["jobs"]] == [theirs["id"]]
    assert api.call("DELETE", theirs["url"], keys["analyst"]).json()["state"] == "cancelled"
    assert api.run() is None  # never run


def test_a_retraining_run_is_shown_without_the_servers_paths(make_client, settings, keys):
    api = Api(make_client(), str(settings.home), str(settings.home.resolve()), "/srv/riskdata")
    data = "/srv/riskdata/2026/newest.csv"
    job = api.bench.submit_retrain(caller="retraining-loop", trigger="schedule", data=data)
    claimed = api.bench.queue.claim("a worker")
    api.bench.queue.finish(claimed, {"trigger": "schedule", "decision": "stopped", "data": data,
                                     "reason": f"DataFileError: no such file: {data!r}",
                                     "report": str(settings.home / "reports" / f"retraining-{job.id}")})
    view = api.call("GET", f"/jobs/{job.id}", keys["analyst"]).json()
    assert view["state"] == "succeeded" and view["result"]["decision"] == "stopped"
    assert view["result"]["data"] == "newest.csv" and "'newest.csv'" in view["result"]["reason"]
    assert "report" not in view["result"]
    assert [j["id"] for j in api.call("GET", "/jobs?all=true", keys["admin"]).json()["jobs"]] == [job.id]


# -- a file on the server ------------------------------------------------------------------------

def test_admin_may_name_a_file_under_the_jobs_paths(make_client, settings, keys, audit, portfolio, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "book.csv").write_bytes(_csv(portfolio))
    (tmp_path / "secret.csv").write_bytes(_csv(portfolio))
    api = Api(make_client(jobs=replace(settings.jobs, paths=(str(shared),))), str(settings.home), str(tmp_path))
    r = api.call("POST", "/jobs/score", keys["admin"], json={"path": str(shared / "book.csv"), "format": "parquet"})
    assert r.status_code == 202, r.text
    assert r.json()["name"] == "book.csv"
    assert api.run().state == "succeeded"
    view = api.call("GET", r.headers["location"], keys["admin"]).json()
    assert view["result"]["scored"] == ROWS and view["result"]["format"] == "parquet"
    assert set(audit.recent(10_000)["request_id"]) == {view["result"]["request_id"]}
    assert (shared / "book.csv").is_file()  # the server's file stays where it is

    for outside in (str(tmp_path / "secret.csv"), str(shared / ".." / "secret.csv"), str(shared / "missing.csv"),
                    str(shared), "~no-such-user-here/x.csv", "relative.csv", "a\x00b"):
        r = api.call("POST", "/jobs/score", keys["admin"], json={"path": outside})
        assert r.status_code == 422, (outside, r.text)
        assert "[jobs] paths" in _says(r) and r.json()["detail"][0]["loc"] == ["body", "path"]
    for body, loc in (({"path": "x.csv", "model": "../models"}, ["body", "model"]), ({"path": ""}, ["body", "path"]),
                      ({"path": 3}, ["body", "path"]), ({"path": "x.csv", "colour": "red"}, ["body", "colour"]),
                      ({"path": "x.csv", "lgd": "half-of-it"}, ["body", "lgd"]), ([], ["body"])):
        r = api.call("POST", "/jobs/score", keys["admin"], json=body)
        assert r.status_code == 422 and loc in [d["loc"] for d in r.json()["detail"]], (body, r.text)
        assert "half-of-it" not in r.text and "../models" not in r.text  # the value sent is never echoed
    r = api.call("POST", "/jobs/score", keys["admin"], content=b"{not json",
                 headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = api.call("POST", "/jobs/score", keys["admin"], json={"path": str(shared / "book.csv"), "sheet": "x" * 70_000})
    assert r.status_code == 413 and "JSON body is larger" in r.json()["detail"]  # not read whole into memory
    r = api.call("POST", "/jobs/score", keys["service"], json={"path": str(shared / "book.csv")})
    assert r.status_code == 403 and "upload the file instead" in r.json()["detail"]
    assert len(api.bench.jobs(limit=100)) == 1


# -- the life of a job ---------------------------------------------------------------------------

def test_files_are_there_once_the_job_succeeded_and_gone_after_the_kept_time(api, keys, audit, portfolio):
    job = api.upload(keys["service"], _csv(portfolio)).json()
    for url in (f"/jobs/{job['id']}/result", f"/jobs/{job['id']}/rejects"):
        r = api.call("GET", url, keys["service"])
        assert r.status_code == 409 and "queued" in r.json()["detail"]
    api.run()
    assert api.call("GET", f"/jobs/{job['id']}/result", keys["service"]).status_code == 200
    r = api.call("DELETE", f"/jobs/{job['id']}", keys["service"])
    assert r.status_code == 409 and "already ended (succeeded)" in r.json()["detail"]

    assert api.bench.expire_job_files(now=time.time() + 10**7) == [job["id"]]
    for url in (f"/jobs/{job['id']}/result", f"/jobs/{job['id']}/rejects"):
        r = api.call("GET", url, keys["service"])
        assert r.status_code == 410 and "deleted" in r.json()["detail"]
    view = api.call("GET", f"/jobs/{job['id']}", keys["service"]).json()
    assert view["state"] == "succeeded" and view["result_url"] is None and view["result"]["scored"] == ROWS
    assert api.folders() == []
    assert audit.verify().ok  # the deletion is on record, in the chain


def test_a_queued_job_cancelled_is_never_run(api, keys, audit, portfolio):
    job = api.upload(keys["service"], _csv(portfolio)).json()
    r = api.call("DELETE", f"/jobs/{job['id']}", keys["service"])
    assert r.status_code == 202 and r.json()["state"] == "cancelled"
    assert api.run() is None
    assert api.call("GET", f"/jobs/{job['id']}", keys["service"]).json()["state"] == "cancelled"
    r = api.call("GET", f"/jobs/{job['id']}/result", keys["service"])
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    assert api.call("DELETE", f"/jobs/{job['id']}", keys["service"]).status_code == 409
    assert audit.count() == 0


def test_a_running_job_cancelled_stops_and_keeps_nothing(api, keys, audit, portfolio):
    job = api.upload(keys["service"], _csv(portfolio)).json()
    running = api.bench.queue.claim("elsewhere")  # a worker of another process holds it
    r = api.call("DELETE", f"/jobs/{job['id']}", keys["service"])
    assert r.status_code == 202
    assert (r.json()["state"], r.json()["cancel_requested"]) == ("running", True)
    assert not api.bench.queue.heartbeat(running)  # its worker is told at its next heartbeat
    api.bench.queue.finish(running, error="cancelled")  # and stops at its next step
    view = api.call("GET", f"/jobs/{job['id']}", keys["service"]).json()
    assert (view["state"], view["cancel_requested"], view["result"]) == ("cancelled", False, {})
    assert api.call("DELETE", f"/jobs/{job['id']}", keys["service"]).status_code == 409
    assert audit.count() == 0


def test_a_worker_whose_starter_has_ended_gives_its_running_job_back(api, keys, audit, portfolio):
    """A face's worker (``parent``) whose face is gone stops its job at once: back to the queue, nothing recorded."""
    job = api.upload(keys["service"], _csv(portfolio)).json()
    orphan = Worker(api.bench, name="orphan", parent=os.getpid())  # never this process's parent
    released = orphan.run_one()
    assert (released.id, released.state, released.attempts) == (job["id"], "queued", 0)
    assert orphan.stopping.is_set() and audit.count() == 0
    assert not (api.bench.settings.jobs_dir / job["id"] / "scored.csv").exists()
    again = api.run()  # another worker takes it from the start
    assert (again.state, again.attempts) == ("succeeded", 1) and audit.count() == ROWS


@pytest.mark.parametrize("change", ["altered", "removed"])
def test_a_job_that_fails_says_why_without_the_servers_paths(make_client, settings, keys, bundle, audit, portfolio,
                                                            tmp_path, change):
    folder = tmp_path / "served" / bundle.path.name
    shutil.copytree(bundle.path, folder)
    api = Api(make_client(bundle_=load_bundle(folder)), str(settings.home), str(tmp_path), str(folder))
    job = api.upload(keys["service"], _csv(portfolio)).json()
    if change == "altered":  # the served bundle changes before the job runs
        with (folder / "metrics.json").open("a", encoding="utf-8") as fh:
            fh.write(" ")
    else:
        shutil.rmtree(folder)
    assert api.run().state == "failed"
    view = api.call("GET", f"/jobs/{job['id']}", keys["service"]).json()
    assert view["state"] == "failed"
    assert ("was altered" if change == "altered" else "the served model's folder") in view["error"]
    r = api.call("GET", f"/jobs/{job['id']}/result", keys["service"])
    assert r.status_code == 409 and view["error"] in r.json()["detail"]
    assert audit.count() == 0


def test_a_job_of_a_pinned_api_scores_with_the_model_it_serves(api, keys, bundle, company, portfolio):
    """/predict and a job answer with the same model, though no registry holds a champion."""
    predicted = api.call("POST", "/predict", keys["service"], json=company).json()
    view = _scored(api, keys["service"], _csv(portfolio))
    assert view["state"] == "succeeded", view["error"]
    assert view["result"]["model_version"] == predicted["model_version"] == bundle.version


def test_a_bearer_token_holding_several_roles_is_admitted_by_any_of_them(monkeypatch):
    from api.oidc import BearerVerifier, Identity
    from riskcore.identity import OidcSettings

    verifier = BearerVerifier(OidcSettings(issuer="https://id.example", audience="riskcore-api"))
    monkeypatch.setattr(verifier, "verify", lambda token: Identity("s", "vera", ("viewer", "analyst")))
    assert verifier.caller("t", "score", "retrain").role == "analyst"
    assert verifier.caller("t", "score").role == "viewer"  # none holds it: the first, named by the 403

