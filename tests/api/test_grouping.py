"""Requests that arrive together are scored and recorded together: the grouper, and the API's groups end to end.

The grouper's promises: a lone request is never held back (nothing else is on its way), a group waits
at most its wait for the requests being read and never more than ``max_items`` join it, an error of the
group reaches every request of it. The API's: one audit transaction per group (shadow scores included), a
failed commit answers every request of the group 503 with no score and records nothing, each answer keeps
its own request id.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.grouping import Grouper
from api.handlers import AUDIT_FAILED
from riskcore.config import Settings
from riskcore.errors import AuditError
from riskcore.serving.audit import AuditLog
from riskcore.serving.requests import ScoringRequest, score_group
from riskcore.serving.scoring import score_one
from riskcore.serving.server import Served, in_canary

HANG = 10.0  # seconds after which a test calls a wait a hang (a guard, not a timing assertion)


def _run(main):
    """asyncio.run(main()) on a thread of its own: a test before this one may have left a loop running here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result(timeout=2 * HANG)


def _grouper(wait_s: float, max_items: int = 64) -> tuple[Grouper[int, int], list[list[int]]]:
    groups: list[list[int]] = []

    def process(items: list[int]) -> list[int | BaseException]:
        groups.append(list(items))
        return [ValueError(f"item {i}") if i < 0 else i * 10 for i in items]

    return Grouper(process, wait_s=wait_s, max_items=max_items, name="test"), groups


def test_a_lone_request_starts_at_once_whatever_the_wait():
    async def run() -> int:
        grouper, _ = _grouper(wait_s=60.0)  # a wait no test could sit out
        return await asyncio.wait_for(grouper.submit(7), HANG)

    assert _run(run) == 70


def test_a_group_waits_for_requests_on_their_way_at_most_its_wait():
    async def run() -> tuple[int, float, list[list[int]]]:
        grouper, groups = _grouper(wait_s=0.05)
        grouper.arrived()  # a request is being read and never comes: the group must not wait for it forever
        loop = asyncio.get_running_loop()
        start = loop.time()
        answer = await asyncio.wait_for(grouper.submit(1), HANG)
        return answer, loop.time() - start, groups

    answer, waited, groups = _run(run)
    assert answer == 10 and groups == [[1]]
    assert waited >= 0.05  # it did wait for the request on its way, up to the wait chosen


def test_requests_on_their_way_join_the_group_and_errors_stay_with_their_request():
    async def run() -> tuple[list[object], list[list[int]]]:
        grouper, groups = _grouper(wait_s=HANG, max_items=3)
        for _ in range(4):
            grouper.arrived()

        async def one(i: int) -> object:
            await asyncio.sleep(0.01 * abs(i))
            try:
                return await grouper.submit(i, counted=True)
            except ValueError as err:
                return str(err)

        answers = await asyncio.wait_for(asyncio.gather(*(one(i) for i in (1, 2, -3, 4))), HANG)
        return answers, groups

    answers, groups = _run(run)
    assert answers == [10, 20, "item -3", 40]
    assert [sorted(g) for g in groups] == [[-3, 1, 2], [4]]  # full at three: the fourth starts the next group


def test_an_error_of_the_whole_group_reaches_every_request():
    def process(items: list[int]) -> list[int]:
        raise RuntimeError("the store went away")

    async def run() -> list[str]:
        grouper: Grouper[int, int] = Grouper(process, wait_s=0.0, max_items=8, name="test")
        results = await asyncio.gather(*(grouper.submit(i) for i in range(3)), return_exceptions=True)
        return [str(r) for r in results]

    assert _run(run) == ["the store went away"] * 3


# -- the API's groups -------------------------------------------------------------------------


@pytest.fixture
def grouped(settings: Settings, bundle, keystore, keys, audit):
    """An app whose groups wait long enough for every test request to join (four at most)."""
    app = create_app(replace(settings, api_group_wait_ms=1000.0, api_group_max=4), bundle=bundle, keys=keystore,
                     audit=audit)
    with TestClient(app) as client:  # one event loop for every request: they can meet in a group
        yield app, client


def _four_at_once(client: TestClient, key: str, company: dict) -> list:
    def send(i: int):
        return client.post("/predict", json={**company, "company_id": f"G-{i}"}, headers={"X-API-Key": key})

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(send, range(4)))


def test_a_group_is_recorded_in_one_transaction_and_each_answer_keeps_its_id(grouped, keys, company, audit):
    app, client = grouped
    answers = _four_at_once(client, keys["service"], company)
    assert [r.status_code for r in answers] == [200] * 4
    grouper = app.state.riskcore.grouper
    assert (grouper.groups, grouper.items) == (1, 4)
    rows = audit.recent(10)
    assert sorted(rows["request_id"]) == sorted(r.json()["request_id"] for r in answers)
    assert sorted(rows["company_id"]) == [f"G-{i}" for i in range(4)]
    assert audit.verify().ok
    with audit.store.reading() as conn:  # one head: the four requests' scores went in with one commit
        assert conn.exec_driver_sql("SELECT count(*), sum(n_rows) FROM audit_requests").one() == (1, 4)


def test_a_failed_commit_answers_every_request_of_the_group_503_and_records_nothing(
        settings, bundle, keystore, keys, company, tmp_path):
    audit = AuditLog(settings.resolved_audit_url, busy_timeout_ms=50)  # a writer gives up after 50 ms
    app = create_app(replace(settings, api_group_wait_ms=1000.0, api_group_max=4), bundle=bundle, keys=keystore,
                     audit=audit)
    audit.check_writable()  # the tables exist
    with TestClient(app) as client:
        blocker = sqlite3.connect(settings.resolved_audit_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the store: every write of the app fails
        try:
            answers = _four_at_once(client, keys["service"], company)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert [r.status_code for r in answers] == [503] * 4
    assert all(r.json()["detail"] == AUDIT_FAILED and "p_default" not in r.json() for r in answers)
    assert app.state.riskcore.grouper.groups == 1
    assert audit.count() == 0 and audit.verify().ok
    audit.close()


def _pair(quick_bundle, lgbm_bundle) -> Served:
    return Served(quick_bundle, "ok", champion=quick_bundle.version, challenger=lgbm_bundle, canary_share=0.5)


def _records(bundle, n: int) -> tuple[list[dict], list[str]]:
    hold = bundle.holdout().head(n)
    ids = [f"S-{i}" for i in range(n)]
    return [{**row, "company_id": cid} for row, cid in zip(hold.to_dict(orient="records"), ids, strict=True)], ids


def test_shadow_scores_go_into_the_groups_one_commit(quick_bundle, lgbm_bundle, tmp_path):
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    served = _pair(quick_bundle, lgbm_bundle)
    records, ids = _records(quick_bundle, 12)
    requests = [ScoringRequest(records[i:i + 3], ids[i:i + 3], f"key-{i % 2}", f"req-{i}") for i in range(0, 12, 3)]
    audit.check_writable()
    commits: list[int] = []
    event.listen(audit.store.writer, "commit", lambda conn: commits.append(1))
    done = score_group(served, requests, audit=audit, strict=False)
    assert len(commits) == 1
    rows = audit.recent(100)
    assert len(rows) == 24 and audit.verify().ok  # every company: its deciding score and its shadow score
    for request, scores in zip(requests, done, strict=True):
        assert [i for i, _ in scores.results] == [0, 1, 2] and not scores.problems
        mine = rows[rows["request_id"] == request.request_id]
        assert sorted(mine["source"]) == ["api"] * 3 + ["shadow"] * 3
        assert set(mine["caller"]) == {request.caller}
        for i, result in scores.results:
            canary = in_canary(request.ids[i], 0.5)
            deciding = lgbm_bundle if canary else quick_bundle
            assert result["model_version"] == deciding.version
            expected = score_one(deciding, dict(request.records[i]))
            assert result["p_default"] == pytest.approx(expected["p_default"], rel=1e-12, abs=1e-15)
            shadow = mine[(mine["source"] == "shadow") & (mine["company_id"] == request.ids[i])]
            assert list(shadow["model_version"]) == [(quick_bundle if canary else lgbm_bundle).version]
    audit.close()


def test_when_the_groups_commit_fails_neither_decisions_nor_shadow_scores_are_recorded(quick_bundle, lgbm_bundle,
                                                                                       tmp_path):
    path = tmp_path / "audit.db"
    audit = AuditLog(f"sqlite:///{path}", busy_timeout_ms=50)
    audit.check_writable()
    records, ids = _records(quick_bundle, 4)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditError):
            score_group(_pair(quick_bundle, lgbm_bundle), [ScoringRequest(records, ids, "k", "r")], audit=audit,
                        strict=False)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert audit.count() == 0
    audit.close()


def test_a_group_is_answered_as_each_request_alone_would_be(quick_bundle, tmp_path):
    """The scores of a group equal score_one's, company by company (one matrix for all of them)."""
    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    records, ids = _records(quick_bundle, 20)
    records[3] = {**records[3], "roa": "not a number"}  # one company the model cannot score
    served = Served(quick_bundle, "ok")
    done = score_group(served, [ScoringRequest(records[:10], ids[:10], "k", "a"),
                                ScoringRequest(records[10:], ids[10:], "k", "b")], audit=audit, strict=False)
    assert [i for i, _ in done[0].problems] == [3]
    for request, scores in zip((records[:10], records[10:]), done, strict=True):
        for i, result in scores.results:
            expected = score_one(quick_bundle, dict(request[i]))
            assert {k: v for k, v in result.items() if k not in ("p_default", "score_raw")} == \
                {k: v for k, v in expected.items() if k not in ("p_default", "score_raw")}
            assert result["p_default"] == pytest.approx(expected["p_default"], rel=1e-12, abs=1e-15)
            assert result["score_raw"] == pytest.approx(expected["score_raw"], rel=1e-12, abs=1e-15)
    assert audit.count() == 19
    audit.close()


def test_threads_of_one_loop_only():
    """The grouper hands each outcome to the loop that submitted it (a test client may run one loop per request)."""
    grouper, groups = _grouper(wait_s=0.0)
    answers: list[int] = []

    def in_its_own_loop(i: int) -> None:
        answers.append(asyncio.run(grouper.submit(i)))

    threads = [threading.Thread(target=in_its_own_loop, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    assert sorted(answers) == [0, 10, 20, 30]
