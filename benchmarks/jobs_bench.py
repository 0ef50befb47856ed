"""A portfolio scored as a durable job over the API, against the command it stands for: ``python -m riskcore score``.

What is timed is what a client of the API pays, next to what the credit officer pays at the command line, on
the same file in the same run:

* the baseline, as the issue states it: ``python -m riskcore score --input FILE --output OUT`` in its own
  process (``_common.measure_command``: wall time from the interpreter's start to its exit, peak RSS), every
  step on (read, validate, score, record every score in a fresh SQLite audit trail, write);
* the job: ``python -m api --port P`` started with ``RISKCORE_JOB_WORKERS=1`` in the same state folder (its one
  worker process, ``python -m riskcore worker``, a child of the API's), a ``service`` key made with ``python -m
  api keys add``; the same file sent as ``multipart/form-data`` to ``POST /jobs/score`` (from disk over a raw
  socket), ``GET /jobs/{id}`` every ``--poll-ms`` until it has succeeded, then ``GET /jobs/{id}/result``
  downloaded to a file. Timed: submit → succeeded (as the client saw it) → downloaded, and the job's own
  started → finished (its record). The downloaded rows must equal the command's output: the same rows in
  the same order, the same ``p_default`` (exit status 1 otherwise).

The worker's peak memory is its own: its peak RSS (``VmHWM``) is reset through ``/proc/PID/clear_refs`` before
each job and read after it, and its ``VmRSS`` is sampled every 50 ms as a check. The job runs first right
after the API started (the worker imports the model libraries then: that is the figure compared with the
command), then in ``--pairs`` pairs (default 1) of a quiet job, with no client polling (the benchmark reads
the job's row in the database once a second, no request reaches the API), and a job polled every
``--poll-ms`` again, their order alternating from pair to pair; the polling cost is the median polled job's
started → finished against the median quiet one's, all on a warm worker.

Then a file of ``--upload-mb`` (default 100 MB: the portfolio's first rows, or its rows repeated) is sent from
memory to ``POST /jobs/score``: the whole POST, the time from the last byte sent (``sendall`` returned) to
the 202, and from the moment the server had stored the last byte (its ``upload.part`` watched every 5 ms) to
the 202; then the job is cancelled with ``DELETE /jobs/{id}``. The kernel's socket buffers on loopback
can hold megabytes the server has not read yet when ``sendall`` returns, so the last figure is the server's
own time after the upload.

``riskcore.toml`` of the state folder sets ``api_rate_limit = 1000000`` (the default, 100 requests a minute
per key, refuses a client polling every 100 ms with 429); everything else is the default (``[jobs]
poll_seconds = 1``: an idle worker looks for work once a second). The champion is trained once per run like
``score_bench.py``'s (LightGBM of a few hundred trees, or ``--kind logistic``: the quick profile's logistic
regression) and registered as the state folder's champion, which both the command and the job score with;
``--state DIR`` keeps that folder and reuses its champion in later runs. Each of the command and the API
writes its own fresh audit trail (``RISKCORE_AUDIT_URL``). The portfolio is ``score_bench.py``'s (the demo
portfolio tiled), written as CSV.

Targets (checked and printed, never asserted): the job, submit → downloaded, within 1.2× the command's wall
time; the worker's peak RSS at most 1 GB; ``POST /jobs/score`` of ``--upload-mb`` answered within 1 s of its
last byte; polling every 100 ms changes the job's own duration (started → finished), and the worker's CPU
seconds, by at most 5 % — a difference inside the spread of one side's own runs is printed as not measurable
(on a shared machine, more ``--pairs`` narrow it). The API process's CPU per GET is printed with them. Load
averages are printed with each figure. Results go to
``benchmarks/output/jobs_bench.json``. Wrap a full run in ``flock /tmp/bench.lock`` on a shared machine.

    .venv/bin/python benchmarks/jobs_bench.py [--rows 1000000] [--kind lightgbm|logistic] [--upload-mb 100]
                                              [--poll-ms 100] [--pairs 1] [--state DIR] [--work-dir DIR]
    .venv/bin/python benchmarks/jobs_bench.py --rows 20000 --upload-mb 10      # a smoke run of about a minute
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _common import measure_command, parse_timings  # noqa: E402
from score_bench import CHAMPION_PARAMS, write_portfolios  # noqa: E402

SEED = 7
OUTPUT = HERE / "output"
KINDS = ("lightgbm", "logistic")
TARGET_RATIO = 1.2  # job submit → downloaded / the command's wall time
TARGET_WORKER_MB = 1024.0
TARGET_POST_S = 1.0  # POST /jobs/score answered after its last byte
TARGET_POLLING_COST = 0.05  # |polled / quiet - 1| of the job's own duration
CONFIG = "api_rate_limit = 1000000\n"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _load_text(load: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


# ---------------------------------------------------------------------------
# the state folder: a registered champion
# ---------------------------------------------------------------------------

def _env(home: Path, audit_db: Path | None = None, **extra: str) -> dict[str, str]:
    """The user's environment on ``home`` (its ``riskcore.toml``), with its own audit trail; this checkout first."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RISKCORE_CONFIG", "RISKCORE_AUDIT_URL", "MLFLOW_TRACKING_URI", "RISKCORE_JOB_WORKERS",
                        "RISKCORE_API_BUNDLE")}
    env["RISKCORE_HOME"] = str(home)
    env["RISKCORE_CONFIG"] = str(home / "riskcore.toml")
    if audit_db is not None:
        env["RISKCORE_AUDIT_URL"] = f"sqlite:///{audit_db.resolve()}"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return {**env, **extra}


def _child_train(kind: str) -> None:
    """Train a champion in this child's state folder (``RISKCORE_HOME``) and register it; print what it is."""
    from riskcore.config import TrainingConfig, load_settings, set_thread_defaults

    set_thread_defaults()
    import riskcore.modelling.search as search
    from riskcore.data.schema import DEMO_SPEC
    from riskcore.data.synth import generate_portfolio
    from riskcore.modelling.tracking import Tracker, load_champion
    from riskcore.modelling.train import train

    settings = load_settings()
    frame = generate_portfolio(1500, seed=SEED).frame
    if kind == "lightgbm":  # score_bench's champion: one search point, a few hundred trees
        search.search_space = lambda kind: dict(CHAMPION_PARAMS)  # type: ignore[assignment]
        config = TrainingConfig.quick(candidates=("lightgbm",), n_iter=1, cv_folds=2, n_bootstrap=50)
    else:
        config = TrainingConfig.quick(candidates=("logistic",), n_bootstrap=50)
    tracker = Tracker.from_settings(settings)
    train(frame, DEMO_SPEC, models_dir=settings.models_dir, tracker=tracker, config=config, promote=True)
    bundle = load_champion(tracker)
    booster = getattr(bundle.scorer, "booster", None)
    print(json.dumps({"version": bundle.version, "kind": bundle.kind,
                      "trees": int(booster.num_trees()) if booster is not None else None}))


def _champion(home: Path) -> dict[str, Any] | None:
    """The state folder's champion (version, kind, trees), or None when it has none."""
    code = ("import json; from riskcore.config import load_settings; from riskcore.modelling.tracking import "
            "Tracker, load_champion; b = load_champion(Tracker.from_settings(load_settings())); "
            "t = getattr(b.scorer, 'booster', None); "
            "print(json.dumps({'version': b.version, 'kind': b.kind, 'trees': t.num_trees() if t else None}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=home,
                          env=_env(home))
    return json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else None


def build_state(home: Path, kind: str) -> dict[str, Any]:
    """A state folder with a ``kind`` champion: reused when it has one of that kind, else trained in a child."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "riskcore.toml").write_text(CONFIG, encoding="utf-8")
    found = _champion(home) if (home / "mlflow.db").is_file() else None
    if found is not None and found["kind"] == kind:
        return {**found, "trained_s": None, "reused": True}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--train-child", kind], capture_output=True, text=True,
                          check=False, cwd=home, env=_env(home))
    if proc.returncode:
        raise SystemExit(f"training the champion failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**out, "trained_s": round(time.perf_counter() - t0, 1), "reused": False}


# ---------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------

def upload_body(source: Path, target_bytes: int) -> bytes:
    """A CSV of at least ``target_bytes``: ``source``'s first rows, or its rows repeated (ids repeat too)."""
    data = source.read_bytes()
    header_end = data.index(b"\n") + 1
    header, rows = data[:header_end], data[header_end:]
    if not rows.endswith(b"\n"):
        rows += b"\n"
    if len(data) < target_bytes:
        rows = rows * math.ceil((target_bytes - len(header)) / len(rows))
    cut = rows.index(b"\n", max(target_bytes - len(header) - 1, 0)) + 1
    return header + rows[:cut]


# ---------------------------------------------------------------------------
# the API and its worker
# ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB (empty when it is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return found


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, every thread counted; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[tuple[int, str]]:
    """The child processes of ``pid`` and their command lines (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        out = []
        for child in psutil.Process(pid).children():
            try:
                out.append((child.pid, " ".join(child.cmdline())))
            except psutil.Error:
                pass
        return out
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if ppid == pid:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, ValueError):
            pass
    return out


class WorkerWatch:
    """The peak resident memory of the API's job worker, per job: ``VmHWM`` reset before and read after it.

    A thread also samples ``VmRSS`` every 50 ms (the check of ``VmHWM``, and the only figure where
    ``clear_refs`` cannot be written). The CPU seconds of the worker and of the API's own process are counted
    from the reset too.
    """

    def __init__(self, pid: int, api_pid: int) -> None:
        self.pid, self.api_pid = pid, api_pid
        self._cpu = (0.0, 0.0)
        self.before_kb = 0
        self.sampled_kb = 0
        self.resettable = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.sampled_kb = max(self.sampled_kb, _status(self.pid).get("VmRSS", 0))

    def reset(self) -> None:
        """Start a new peak: the kernel's (``clear_refs`` 5) and the sampled one."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5", encoding="ascii")
        except OSError:
            self.resettable = False
        self.sampled_kb = self.before_kb = _status(self.pid).get("VmRSS", 0)
        self._cpu = (_cpu_s(self.pid), _cpu_s(self.api_pid))

    def peak(self) -> dict[str, Any]:
        """Peak RSS since the last reset (MB): the kernel's high-water mark and the sampled maximum."""
        st = _status(self.pid)
        hwm = st.get("VmHWM") if self.resettable else None
        return {"hwm_mb": round(hwm / 1024, 1) if hwm else None, "sampled_mb": round(self.sampled_kb / 1024, 1),
                "rss_before_mb": round(self.before_kb / 1024, 1), "rss_now_mb": round(st.get("VmRSS", 0) / 1024, 1),
                "alive": bool(st),
                "worker_cpu_s": round(_cpu_s(self.pid) - self._cpu[0], 2),
                "api_cpu_s": round(_cpu_s(self.api_pid) - self._cpu[1], 2)}

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


@dataclass
class Api:
    """``python -m api`` in its own process group, with its worker."""

    proc: subprocess.Popen[bytes]
    port: int
    key: str
    audit_db: Path
    jobs_dir: Path
    log: Path
    worker_pid: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate the API (it stops its worker) and wait; the process group after 30 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def start_api(home: Path, work: Path) -> Api:
    """A fresh audit trail, a service key, then ``python -m api`` with one job worker; waits until it is ready."""
    audit_db = work / "api-audit.db"
    env = _env(home, audit_db, RISKCORE_JOB_WORKERS="1")
    keys = subprocess.run([sys.executable, "-m", "api", "keys", "add", "--role", "service", "--name", "jobs-bench"],
                          capture_output=True, text=True, check=False, cwd=work, env=env)
    if keys.returncode:
        raise SystemExit(f"python -m api keys add failed: {keys.stderr.strip()[-500:]}")
    key = keys.stdout.strip().splitlines()[-1].strip()
    port = _free_port()
    log = work / "api.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "api", "--port", str(port), "--log-level", "warning"],
                                cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    api = Api(proc, port, key, audit_db, home / "jobs", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"python -m api exited with status {proc.returncode} (log: {log})")
        try:
            if httpx.get(f"{api.base}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        api.stop()
        raise SystemExit(f"python -m api was not ready within 120 s (log: {log})")
    while time.monotonic() < deadline and not api.worker_pid:
        api.worker_pid = next((pid for pid, cmd in _children(proc.pid) if "riskcore" in cmd and "worker" in cmd), 0)
        time.sleep(0.1)
    if not api.worker_pid:
        api.stop()
        raise SystemExit(f"no job worker process under the API (pid {proc.pid}); log: {log}")
    return api


# ---------------------------------------------------------------------------
# the client: a multipart POST over a raw socket, polling, the download
# ---------------------------------------------------------------------------

@dataclass
class Posted:
    """One ``POST /jobs/score``: its answer and when each part happened (``time.perf_counter``)."""

    status: int
    body: dict[str, Any]
    start: float
    sent: float
    answered: float
    sent_wall: float  # time.time() when the last byte was sent, for the server's own timestamps
    bytes: int
    stored: float | None = None  # when the server had stored the last byte of the file (its upload.part watched)

    @property
    def total_s(self) -> float:
        return self.answered - self.start

    @property
    def after_send_s(self) -> float:
        return self.answered - self.sent

    @property
    def after_stored_s(self) -> float | None:
        return None if self.stored is None else self.answered - self.stored


def _watch_upload(jobs_dir: Path, before: set[str], size: int, done: threading.Event, found: list[float]) -> None:
    """Note when a new job folder's upload holds ``size`` bytes (``upload.part``, or already ``input.csv``)."""
    while not done.is_set():
        for folder in (p for p in jobs_dir.iterdir() if p.name not in before) if jobs_dir.is_dir() else ():
            for name in ("upload.part", "input.csv"):
                try:
                    if (folder / name).stat().st_size >= size:
                        found.append(time.perf_counter())
                        return
                except OSError:
                    pass
        time.sleep(0.005)


def post_job(api: Api, source: Path | bytes, filename: str, *, watch: bool = True) -> Posted:
    """Send a file (a path: from disk with ``sendfile``; bytes: from memory) to ``POST /jobs/score``."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\ncsv\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    length = len(head) + size + len(tail)
    request = (f"POST /jobs/score HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\nX-API-Key: {api.key}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n"
               "Connection: close\r\n\r\n").encode()
    before = {p.name for p in api.jobs_dir.iterdir()} if api.jobs_dir.is_dir() else set()
    done, stored = threading.Event(), []
    watcher = threading.Thread(target=_watch_upload, args=(api.jobs_dir, before, size, done, stored), daemon=True)
    if watch:
        watcher.start()
    sock = socket.create_connection(("127.0.0.1", api.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    try:
        sock.sendall(request + head)
        if isinstance(source, Path):
            with source.open("rb") as fh:
                sock.sendfile(fh)
        else:
            sock.sendall(source)
        sock.sendall(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early (an error): read it
    sent, sent_wall = time.perf_counter(), time.time()
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    answered = time.perf_counter()
    sock.close()
    done.set()
    if watch:
        watcher.join()
    raw = b"".join(chunks)
    head_end = raw.find(b"\r\n\r\n")
    status = int(raw[9:12]) if raw[:5] == b"HTTP/" else 0
    try:
        body = json.loads(raw[head_end + 4:]) if head_end >= 0 else {}
    except ValueError:
        body = {"raw": raw[head_end + 4:][:300].decode("latin-1")}
    return Posted(status, body, start, sent, answered, sent_wall, length, stored[0] if stored else None)


@dataclass
class JobRun:
    """One job, from the client's side and from its record."""

    label: str
    polled: bool
    post: dict[str, Any] = field(default_factory=dict)
    job_id: str = ""
    submit_to_succeeded_s: float = 0.0
    submit_to_downloaded_s: float = 0.0
    download_s: float = 0.0
    started_after_created_s: float = 0.0  # the queue's wait: a worker looks for work every poll_seconds
    job_s: float = 0.0  # started → finished, from the record
    worker_s: float = 0.0  # the scoring run as the worker timed it (result.seconds)
    timings: dict[str, float] = field(default_factory=dict)
    polls: int = 0
    poll_ms: dict[str, float] = field(default_factory=dict)
    worker_peak: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    scored: int = 0
    load: list[float] = field(default_factory=list)
    state: str = ""
    error: str = ""


def _wait_db(audit_db: Path, job_id: str, every_s: float, timeout_s: float) -> None:
    """Wait for a job to end by reading its row in the database (no request to the API)."""
    deadline = time.monotonic() + timeout_s
    uri = f"file:{audit_db.resolve()}?mode=ro"
    while time.monotonic() < deadline:
        time.sleep(every_s)
        conn = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            row = conn.execute("SELECT state FROM riskcore_jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            conn.close()
        if row and row[0] in ("succeeded", "failed", "cancelled"):
            return
    raise SystemExit(f"job {job_id} did not end within {timeout_s:.0f} s")


def run_job(api: Api, client: httpx.Client, watch: WorkerWatch, source: Path, out: Path, *, label: str,
            poll_s: float | None, timeout_s: float) -> JobRun:
    """Submit ``source``; poll every ``poll_s`` (or watch the database when None); download the result."""
    run = JobRun(label=label, polled=poll_s is not None)
    watch.reset()
    posted = post_job(api, source, source.name)
    if posted.status != 202:
        raise SystemExit(f"POST /jobs/score answered {posted.status}: {posted.body} (log: {api.log})")
    run.post = {"total_s": round(posted.total_s, 3), "after_last_byte_s": round(posted.after_send_s, 3),
                "after_stored_s": round(posted.after_stored_s, 3) if posted.after_stored_s is not None else None,
                "mb": round(posted.bytes / 1e6, 1)}
    run.job_id = posted.body["id"]
    url = f"/jobs/{run.job_id}"
    if poll_s is None:
        _wait_db(api.audit_db, run.job_id, 1.0, timeout_s)
        job = client.get(url).json()
    else:
        latencies = []
        deadline = time.monotonic() + timeout_s
        while True:
            t0 = time.perf_counter()
            answer = client.get(url)
            latencies.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise SystemExit(f"GET {url} answered {answer.status_code}: {answer.text[:300]}")
            job = answer.json()
            if job["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                break
            time.sleep(max(poll_s - (time.perf_counter() - t0), 0.0))
        run.polls = len(latencies)
        run.poll_ms = {"p50": round(statistics.median(latencies) * 1e3, 2),
                       "max": round(max(latencies) * 1e3, 2)}
    run.submit_to_succeeded_s = time.perf_counter() - posted.start
    run.worker_peak = watch.peak()
    run.state, run.error = job["state"], job.get("error", "")
    if job["state"] != "succeeded":
        raise SystemExit(f"job {run.job_id} ended {job['state']}: {job.get('error')} (log: {api.log})")
    t0 = time.perf_counter()
    with client.stream("GET", f"{url}/result") as answer, out.open("wb") as fh:
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}/result answered {answer.status_code}")
        for chunk in answer.iter_bytes(1 << 20):
            fh.write(chunk)
    run.download_s = time.perf_counter() - t0
    run.submit_to_downloaded_s = time.perf_counter() - posted.start
    run.started_after_created_s = job["started"] - job["created"]
    run.job_s = job["finished"] - job["started"]
    result = job["result"]
    run.worker_s = float(result.get("seconds") or 0.0)
    run.timings = dict(result.get("timings") or {})
    run.rows, run.scored = int(result.get("rows") or 0), int(result.get("scored") or 0)
    run.load = _load()
    return run


def upload_timing(api: Api, client: httpx.Client, body: bytes, timeout_s: float = 120.0) -> dict[str, Any]:
    """``POST /jobs/score`` of ``body`` from memory (the worker idle), then the job cancelled."""
    posted = post_job(api, body, "upload.csv")
    facts: dict[str, Any] = {"status": posted.status, "mb": round(posted.bytes / 1e6, 1),
                             "total_s": round(posted.total_s, 3), "after_last_byte_s": round(posted.after_send_s, 3),
                             "after_stored_s": round(posted.after_stored_s, 3)
                             if posted.after_stored_s is not None else None,
                             "load": _load()}
    if posted.status != 202:
        facts["error"] = str(posted.body)[:300]
        return facts
    job_id = facts["job_id"] = posted.body["id"]
    job = client.get(f"/jobs/{job_id}").json()
    # the server's own clock: from the last byte sent to the job's row (upload drained, parsed, settled, queued)
    facts["queued_after_last_byte_s"] = round(job["created"] - posted.sent_wall, 3)
    cancel = client.delete(f"/jobs/{job_id}")
    facts["cancel_status"] = cancel.status_code
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    facts["ended"] = job["state"]
    return facts


# ---------------------------------------------------------------------------
# the comparison of the two outputs
# ---------------------------------------------------------------------------

def same_rows(cli_out: Path, job_out: Path) -> dict[str, Any]:
    """Whether the job's rows are the command's: row count, keys in order, ``p_default`` exactly, every column."""
    import pyarrow.csv as pcsv

    from riskcore.data.schema import DEMO_SPEC

    a, b = pcsv.read_csv(cli_out), pcsv.read_csv(job_out)
    keys = [DEMO_SPEC.id or "company_id", DEMO_SPEC.time or "fiscal_year"]
    facts: dict[str, Any] = {"cli_rows": a.num_rows, "job_rows": b.num_rows,
                             "same_columns": a.column_names == b.column_names}
    if a.num_rows != b.num_rows or "p_default" not in a.column_names or "p_default" not in b.column_names:
        return {**facts, "ok": False, "note": "different rows or no p_default column"}
    facts["same_keys"] = all(a.column(k).equals(b.column(k)) for k in keys if k in a.column_names)
    pa_, pb = a.column("p_default").to_numpy(), b.column("p_default").to_numpy()
    facts["max_abs_pd_diff"] = float(np.max(np.abs(pa_ - pb))) if len(pa_) else 0.0
    facts["equal_pd"] = bool(np.array_equal(pa_, pb))
    facts["differing_columns"] = [c for c in a.column_names if c in b.column_names and not a.column(c).equals(
        b.column(c))]
    facts["ok"] = facts["equal_pd"] and facts["same_keys"]
    return facts


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------

def _verdict(value: float | None, limit: float, *, high: bool = False) -> str:
    if value is None:
        return "unknown"
    return "met" if (value >= limit if high else value <= limit) else "NOT MET"


def _peak_mb(run: JobRun) -> float | None:
    p = run.worker_peak
    vals = [v for v in (p.get("hwm_mb"), p.get("sampled_mb")) if v]
    return max(vals) if vals else None


def report(cli: dict[str, Any], jobs: list[JobRun], upload: dict[str, Any], rows: int) -> dict[str, Any]:
    """Print the table and the targets; the targets as data."""
    first = jobs[0]
    quiet = [r for r in jobs[1:] if not r.polled]
    polled = [r for r in jobs[1:] if r.polled]
    print()
    print(f"{'what':58s} {'seconds':>9s} {'peak MB':>8s}  load average (1, 5, 15 min)")
    print(f"{'python -m riskcore score (baseline)':58s} {cli['wall_s']:9.2f} {cli['peak_mb']:8,.0f}  "
          f"{_load_text(cli['load'])}")
    for r in jobs:
        print(f"{r.label + ': submit → succeeded':58s} {r.submit_to_succeeded_s:9.2f} {_peak_mb(r) or 0:8,.0f}  "
              f"{_load_text(r.load)}")
        print(f"{'   submit → downloaded (the client has the file)':58s} {r.submit_to_downloaded_s:9.2f}")
        print(f"{'   of which POST (' + str(r.post['mb']) + ' MB)':58s} {r.post['total_s']:9.2f}   "
              f"after its last byte {r.post['after_last_byte_s']:.3f} s")
        print(f"{'   queued → started (the worker looks every poll_seconds)':58s} {r.started_after_created_s:9.2f}")
        print(f"{'   started → finished (the job record)':58s} {r.job_s:9.2f}   "
              f"scoring run {r.worker_s:.2f} s")
        print(f"{'   download of the result':58s} {r.download_s:9.2f}")
        w = r.worker_peak
        print(f"{'   worker: resident before the job → peak (MB); CPU s':58s} {w['worker_cpu_s']:9.2f}   "
              f"{w['rss_before_mb']:,.0f} → {_peak_mb(r) or 0:,.0f} MB; the API process's CPU {w['api_cpu_s']:.2f} s")
        if r.polled:
            print(f"{'   GET /jobs/{id} while it ran':58s} {r.polls:9d} × p50 {r.poll_ms['p50']:.1f} ms, "
                  f"max {r.poll_ms['max']:.1f} ms")
    print(f"{'POST /jobs/score, ' + str(upload.get('mb')) + ' MB from memory: whole POST':58s} "
          f"{upload['total_s']:9.3f}           {_load_text(upload['load'])}")
    print(f"{'   after its last byte was sent (sendall returned)':58s} {upload['after_last_byte_s']:9.3f}")
    if upload.get("after_stored_s") is not None:
        print(f"{'   after the server had stored its last byte':58s} {upload['after_stored_s']:9.3f}")
    if upload.get("queued_after_last_byte_s") is not None:
        print(f"{'   last byte sent → the job queued (server clock)':58s} {upload['queued_after_last_byte_s']:9.3f}   "
              f"then cancelled: {upload.get('ended')}")
    print()
    stages = cli.get("stages") or {}
    print(f"stages (s): {'command':14s} " + "  ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    for r in jobs:  # in the command's order
        order = [k for k in stages if k in r.timings] + [k for k in r.timings if k not in stages]
        print(f"            {r.label:14s} " + "  ".join(f"{k} {r.timings[k]:.2f}" for k in order))

    ratio = first.submit_to_downloaded_s / cli["wall_s"]
    warm_ratio = statistics.median(r.submit_to_downloaded_s for r in polled) / cli["wall_s"]
    worker_peak = max((_peak_mb(r) or 0.0) for r in jobs) or None
    quiet_s = statistics.median(r.job_s for r in quiet)
    polled_s = statistics.median(r.job_s for r in polled)
    cost = polled_s / quiet_s - 1 if quiet_s else None

    def spread(measure: Any) -> float | None:
        """The run-to-run spread of one side (largest / smallest - 1): a difference inside it is not measurable."""
        found = [max(values) / min(values) - 1 for values in ([measure(r) for r in runs] for runs in (quiet, polled))
                 if len(values) > 1 and min(values) > 0]
        return max(found) if found else None

    noise = spread(lambda r: r.job_s)
    cpu_noise = spread(lambda r: r.worker_peak["worker_cpu_s"])
    cpu = {side: (statistics.median(r.worker_peak["worker_cpu_s"] for r in runs),
                  statistics.median(r.worker_peak["api_cpu_s"] for r in runs)) for side, runs in
           (("quiet", quiet), ("polled", polled))}
    cpu_cost = cpu["polled"][0] / cpu["quiet"][0] - 1 if cpu["quiet"][0] else None
    gets = statistics.median(r.polls for r in polled)
    per_get = (cpu["polled"][1] - cpu["quiet"][1]) / gets * 1e3 if gets else None

    def polling_verdict(value: float | None, noise: float | None) -> str:
        if value is None:
            return "unknown"
        if abs(value) <= TARGET_POLLING_COST:
            return "met"
        if noise is not None and abs(value) <= noise:
            return f"not measurable: inside the runs' own spread of {noise:.0%}"
        return "NOT MET"

    targets = [
        {"target": f"job submit → downloaded / command wall, {rows:,} rows (first job)", "value": ratio,
         "limit": TARGET_RATIO, "unit": "×", "status": _verdict(ratio, TARGET_RATIO)},
        {"target": "   the same, warm worker (median of the polled pairs' jobs)", "value": warm_ratio,
         "limit": TARGET_RATIO, "unit": "×", "status": _verdict(warm_ratio, TARGET_RATIO)},
        {"target": "worker peak RSS (largest of the jobs)", "value": worker_peak, "limit": TARGET_WORKER_MB,
         "unit": "MB", "status": _verdict(worker_peak, TARGET_WORKER_MB)},
        {"target": f"POST /jobs/score {upload.get('mb')} MB: answer after the last byte sent",
         "value": upload.get("after_last_byte_s"), "limit": TARGET_POST_S, "unit": "s",
         "status": _verdict(upload.get("after_last_byte_s") if upload.get("status") == 202 else None,
                            TARGET_POST_S)},
        {"target": "polling: job started → finished, median polled / median quiet - 1", "value": cost,
         "limit": TARGET_POLLING_COST, "unit": "", "status": polling_verdict(cost, noise)},
        {"target": "polling: the worker's CPU seconds, median polled / median quiet - 1", "value": cpu_cost,
         "limit": TARGET_POLLING_COST, "unit": "", "status": polling_verdict(cpu_cost, cpu_noise)},
    ]
    print()
    print("polling, job started → finished (the scoring run in brackets): quiet " +
          ", ".join(f"{r.job_s:.2f} s ({r.worker_s:.2f})" for r in quiet) + "; polled " +
          ", ".join(f"{r.job_s:.2f} s ({r.worker_s:.2f}, {r.polls} GETs)" for r in polled) +
          (f"; spread of one side's runs up to {noise:.0%}" if noise is not None else ""))
    print(f"         CPU seconds, medians: the worker {cpu['quiet'][0]:.2f} quiet, {cpu['polled'][0]:.2f} polled; the "
          f"API's process {cpu['quiet'][1]:.2f} quiet, {cpu['polled'][1]:.2f} polled"
          + (f" ({per_get:.1f} ms of CPU per GET)" if per_get is not None else ""))
    print("targets")
    for t in targets:
        value = "unknown" if t["value"] is None else (f"{t['value']:+.1%}" if t["unit"] == "" else
                                                      f"{t['value']:,.2f} {t['unit']}")
        limit = f"±{t['limit']:.0%}" if t["unit"] == "" else f"≤ {t['limit']:,} {t['unit']}"
        print(f"   {t['target']:72s} {value:>12s}  (target {limit})  {t['status']}")
    return {"targets": targets, "ratio": ratio, "warm_ratio": warm_ratio, "worker_peak_mb": worker_peak,
            "quiet_job_s": quiet_s, "polled_job_s": polled_s, "polling_cost": cost, "polling_noise": noise,
            "cpu_s_medians": cpu, "polling_cpu_cost": cpu_cost, "polling_cpu_noise": cpu_noise,
            "api_cpu_ms_per_get": per_get}


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the portfolio (default 1,000,000)")
    parser.add_argument("--kind", choices=KINDS, default="lightgbm",
                        help="the champion: lightgbm (a few hundred trees, default) or logistic (the quick profile's)")
    parser.add_argument("--upload-mb", type=float, default=100.0,
                        help="size of the file whose POST is timed and then cancelled (default 100 MB)")
    parser.add_argument("--poll-ms", type=float, default=100.0, help="the polling client's interval (default 100)")
    parser.add_argument("--pairs", type=int, default=1,
                        help="pairs of jobs, one quiet and one polled, after the first (default 1; their order "
                             "alternates and the medians are compared)")
    parser.add_argument("--state", default=None,
                        help="a state folder to keep and reuse (its champion, when of --kind; default: a new one in "
                             "the work folder)")
    parser.add_argument("--work-dir", default=None, help="folder for the temporary files (default: the system's)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a job may take (default 1800)")
    parser.add_argument("--train-child", dest="train_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        _child_train(args.train_child)
        return 0

    loads: dict[str, list[float]] = {"start": _load()}
    print(f"machine: {os.cpu_count()} CPUs, load average {_load_text(loads['start'])}")
    with tempfile.TemporaryDirectory(prefix="jobs-bench-", dir=args.work_dir) as tmp:
        work = Path(tmp)
        home = Path(args.state).resolve() if args.state else work / "state"
        champion = build_state(home, args.kind)
        how = "reused" if champion["reused"] else f"trained in {champion['trained_s']} s"
        trees = f", {champion['trees']} trees" if champion.get("trees") else ""
        print(f"champion: {champion['version']} ({champion['kind']}{trees}), {how}; state folder {home}")

        t0 = time.perf_counter()
        source = write_portfolios(work, [args.rows], ["csv"])[("csv", args.rows)]
        body = upload_body(source, int(args.upload_mb * 1e6))
        print(f"portfolio: {args.rows:,} rows, {source.stat().st_size / 1e6:,.1f} MB CSV; upload file "
              f"{len(body) / 1e6:,.1f} MB ({time.perf_counter() - t0:.1f} s to write)", flush=True)

        cli_out = work / "cli-scored.csv"
        run = measure_command([sys.executable, "-m", "riskcore", "score", "--input", str(source), "--output",
                               str(cli_out), "--timings"], env=_env(home, work / "cli-audit.db"), cwd=work)
        if not run.ok or not cli_out.exists():
            raise SystemExit(f"python -m riskcore score failed (exit {run.rc}): {run.last_error_line()}")
        cli = {"rc": run.rc, "wall_s": round(run.wall_s, 3), "peak_mb": round(run.peak_mb, 1),
               "stages": parse_timings(run.stderr), "load": _load()}
        print(f"python -m riskcore score: {cli['wall_s']:.2f} s, peak {cli['peak_mb']:,.0f} MB "
              f"(load {_load_text(cli['load'])})", flush=True)

        api = start_api(home, work)
        watch = WorkerWatch(api.worker_pid, api.proc.pid)
        jobs: list[JobRun] = []
        results: list[dict[str, Any]] = []
        ok = True
        upload: dict[str, Any] = {}
        try:
            with httpx.Client(base_url=api.base, headers={"X-API-Key": api.key}, timeout=600) as client:
                print(f"API on port {api.port} (pid {api.proc.pid}), job worker pid {api.worker_pid}", flush=True)
                poll_s = args.poll_ms / 1e3
                plan: list[tuple[str, float | None]] = [("first job", poll_s)]
                for i in range(max(args.pairs, 1)):  # the pairs' order alternates: neither side always goes first
                    pair = [(f"quiet job {i + 1}", None), (f"polled job {i + 1}", poll_s)]
                    plan += pair if i % 2 == 0 else pair[::-1]
                for label, poll_s in plan:
                    out = work / f"job-{len(jobs)}.csv"
                    r = run_job(api, client, watch, source, out, label=label, poll_s=poll_s, timeout_s=args.timeout)
                    check = same_rows(cli_out, out)
                    ok = ok and check["ok"]
                    jobs.append(r)
                    results.append({**r.__dict__, "same_as_command": check})
                    verdict = "same rows and p_default as the command" if check["ok"] else f"DIFFERENT: {check}"
                    print(f"{label}: {r.submit_to_downloaded_s:.2f} s submit → downloaded, {r.job_s:.2f} s started → "
                          f"finished, worker peak {_peak_mb(r) or 0:,.0f} MB; {verdict} (load {_load_text(r.load)})",
                          flush=True)
                    out.unlink()
                upload = upload_timing(api, client, body)
                print(f"POST of {upload['mb']} MB: {upload['total_s']:.3f} s, {upload['after_last_byte_s']:.3f} s "
                      f"after its last byte (status {upload['status']}; load {_load_text(upload['load'])})", flush=True)
        finally:
            watch.close()
            api.stop()
            for job_id in [r.job_id for r in jobs] + [upload.get("job_id", "")]:  # a kept state folder keeps none
                if job_id:
                    shutil.rmtree(home / "jobs" / job_id, ignore_errors=True)
        del body
        summary = report(cli, jobs, upload, args.rows)
        loads["end"] = _load()
        print(f"load average at the end: {_load_text(loads['end'])} (above {os.cpu_count()} means other work shared "
              "the cores with this run: compare ratios, not absolute times)")
        print(f"job results equal to the command's: {'OK' if ok else 'MISMATCH'}")

    OUTPUT.mkdir(parents=True, exist_ok=True)
    out_path = OUTPUT / "jobs_bench.json"
    out_path.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "load_average": loads},
        "options": {k: v for k, v in vars(args).items() if k != "train_child"}, "champion": champion,
        "portfolio": {"rows": args.rows}, "command": cli, "jobs": results, "upload": upload, "ok": ok,
        **summary}, indent=1, default=str), encoding="utf-8")
    print(f"results: {out_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
