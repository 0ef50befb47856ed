"""What a server scores with: the champion when it verifies, else the last verified champion; a shadow challenger.

:class:`ModelServer` is shared by the API and the dashboard. It looks at the
registry's ``champion`` alias at most every ``[serving] check_seconds`` and
picks up a new champion without a restart. It never serves a bundle that fails
verification: before it serves a version, and at each check for the version it
serves, every file is hashed against the manifest and the manifest against the
hash the registry recorded. When the champion fails, it serves the newest
earlier champion that verifies (the ``previous_champion`` alias, then the
ledger's history, newest first) and says so (:attr:`Served.status`
``"degraded"``, :attr:`Served.reason`); the switch and the return are recorded
in the ledger (events ``fallback`` and ``restore``). With no verified version at
all nothing is served.

A challenger configured under ``[serving]`` scores in shadow
(:func:`riskcore.serving.requests.score_group`): the answer is the deciding model's, both scores are
recorded, the other one with source ``shadow``. A canary share of companies,
chosen by a stable hash of the company id (:func:`in_canary`, the same in every
process), is decided by the challenger.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from riskcore.config import Settings
from riskcore.errors import AuditError, RiskcoreError
from riskcore.lru import LRU
from riskcore.modelling.bundle import ModelBundle, load_bundle, verify_bundle
from riskcore.modelling.tracking import PREVIOUS_CHAMPION, ChampionRef, Tracker
from riskcore.serving.audit import MOVES, AuditLog, ModelEvent, ModelMove
from riskcore.serving.opening import open_model

__all__ = ["NO_CHAMPION", "NO_VERIFIED_MODEL", "PINNED_CHANGED", "PINNED_UNLOADABLE", "ModelServer", "Served",
           "in_canary"]

log = logging.getLogger("riskcore.serving")

Status = Literal["ok", "degraded", "unavailable"]
NO_VERIFIED_MODEL = ("no verified model can be served: the champion's bundle and every earlier champion's fail "
                     "verification or cannot be loaded; restore a bundle or promote a verified version")
NO_CHAMPION = ("there is no champion model yet: train one first (python -m riskcore train --data FILE, or open "
               "the dashboard)")
PINNED_CHANGED = ("the model bundle on disk no longer matches the loaded model (altered or removed); "
                  "restore or redeploy it")
PINNED_UNLOADABLE = ("the model bundle to serve cannot be loaded (it is missing or fails verification); retrain "
                     "or restore it — the server log has the details")
_CANARY_SCALE = float(2**64)
LOADED_VERSIONS = 4  # verified bundles a server keeps: the champion, the challenger, a fallback, one more


def in_canary(company_id: str, share: float) -> bool:
    """Whether the challenger decides this company: the first 8 bytes of SHA-256 of its id, as a share, below ``share``.

    The same in every process and on every machine (unlike Python's ``hash``), so a company
    stays on one side of the canary for as long as the share does not change.
    """
    if share <= 0:
        return False
    bucket = int.from_bytes(hashlib.sha256(company_id.encode("utf-8")).digest()[:8], "big") / _CANARY_SCALE
    return bucket < share


@dataclass(frozen=True)
class Served:
    """What a server scores with right now.

    Attributes
    ----------
    bundle : the verified bundle that decides, or ``None`` when none can be served.
    status : ``ok`` (the champion), ``degraded`` (an earlier champion, see ``reason``), ``unavailable``.
    reason : why it is not ``ok``, naming versions but never files (clients may read it); empty when it is.
    champion : the registry champion's model version (``None`` without a registry or a champion).
    challenger : the verified shadow challenger, or ``None``.
    challenger_problem : why the configured challenger is not scoring; empty when it is or none is configured.
    canary_share : the share of companies the challenger decides.
    """

    bundle: ModelBundle | None
    status: Status
    reason: str = ""
    champion: str | None = None
    challenger: ModelBundle | None = None
    challenger_problem: str = ""
    canary_share: float = 0.0

    @property
    def version(self) -> str | None:
        """The model version that decides, or ``None``."""
        return None if self.bundle is None else self.bundle.version


def _actor() -> str:
    return f"server@{socket.gethostname()}:{os.getpid()}"


class ModelServer:
    """Chooses, verifies and reloads the model a long-running server scores with (see the module docstring).

    Parameters
    ----------
    settings : the registry, the audit trail, ``[serving]``.
    tracker : the registry (default: the settings' store); ``None`` with ``pinned``.
    audit : where fallbacks are recorded (optional: without it they are only logged).
    pinned : serve this bundle (or the bundle in this folder) and nothing else; it is still re-verified, against
        the manifest it had when it was first loaded.
    clock : seconds, monotonic (tests pass their own).
    on_move : called with each ``fallback`` and ``restore`` once it is recorded (or could not be), to tell people.
    """

    def __init__(self, settings: Settings, *, tracker: Tracker | None = None, audit: AuditLog | None = None,
                 pinned: ModelBundle | str | os.PathLike[str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_move: Callable[[ModelMove], object] | None = None) -> None:
        self.settings = settings
        self._on_move = on_move
        self.rules = settings.serving
        self.audit = audit
        self._pinned: tuple[str, str] | None = None  # folder, manifest hash ("" until it first loads)
        self._tracker = tracker
        self._clock = clock
        self._lock = threading.Lock()
        # manifest hash -> bundle: the few versions a server may switch between, verified before
        self._loaded = LRU[str, ModelBundle](LOADED_VERSIONS)
        self._checked_at = float("-inf")
        self._served = Served(None, "unavailable", "the server has not looked for a model yet")
        self._recorded: tuple[str, str | None, str | None] = ("ok", None, None)
        if isinstance(pinned, (str, os.PathLike)):
            self._pinned = (os.fspath(pinned), "")
        elif pinned is not None:
            self._pinned = (str(pinned.path), pinned.manifest_hash)
            self._loaded[pinned.manifest_hash] = pinned

    # -- public ---------------------------------------------------------------
    def current(self) -> Served:
        """What to score with; looks again when ``check_seconds`` have passed.

        One thread looks while the others go on with what was served until then (they wait only
        for the very first look).
        """
        if self._clock() - self._checked_at < self.rules.check_seconds:
            return self._served
        if not self._lock.acquire(blocking=self._checked_at == float("-inf")):
            return self._served
        try:
            if self._clock() - self._checked_at >= self.rules.check_seconds:
                self._served = self._choose()
                self._checked_at = self._clock()
        finally:
            self._lock.release()
        return self._served

    def due(self) -> bool:
        """Whether the next :meth:`current` looks again (cheap: a clock read)."""
        return self._clock() - self._checked_at >= self.rules.check_seconds

    def refresh(self) -> Served:
        """Look now, whatever the time since the last look."""
        with self._lock:
            self._served = self._choose()
            self._checked_at = self._clock()
        return self._served

    # -- choosing -------------------------------------------------------------
    def _choose(self) -> Served:
        if self._pinned is not None:
            bundle, problem = self._verified(*self._pinned)
            if bundle is not None:
                self._pinned = (self._pinned[0], bundle.manifest_hash)
            if bundle is None:
                log.error("the model bundle to serve cannot be verified: %s", problem)
                return Served(None, "unavailable", PINNED_CHANGED if self._pinned[1] else PINNED_UNLOADABLE)
            return self._with_challenger(Served(bundle, "ok", champion=bundle.version))
        tracker = self._tracker_or_none()
        if tracker is None:
            return self._keep_or_unavailable("the model registry cannot be opened")
        try:
            champion = tracker.champion()
        except RiskcoreError as err:
            log.error("cannot read the champion: %s", err)
            return self._keep_or_unavailable("the model registry cannot be read (the server log has the details)")
        if champion is None:
            return Served(None, "unavailable", NO_CHAMPION)
        bundle, problem = self._verified(champion.bundle_path, champion.bundle_hash, champion.model_version)
        if bundle is not None:
            served = Served(bundle, "ok", champion=champion.model_version)
        else:
            served = self._fallback(tracker, champion, problem)
        self._record(served)
        return self._with_challenger(served)

    def _fallback(self, tracker: Tracker, champion: ChampionRef, problem: str) -> Served:
        """The newest earlier champion that verifies, or nothing."""
        log.error("the champion %s cannot be served: %s", champion.model_version, problem)
        for ref in self._earlier_champions(tracker, champion):
            bundle, why = self._verified(ref.bundle_path, ref.bundle_hash, ref.model_version)
            if bundle is not None:
                reason = (f"the champion {champion.model_version} cannot be served (its bundle fails verification "
                          f"or cannot be loaded); serving {bundle.version}, the last champion that verifies")
                return Served(bundle, "degraded", reason, champion=champion.model_version)
            log.error("the earlier champion %s cannot be served either: %s", ref.model_version, why)
        return Served(None, "unavailable", NO_VERIFIED_MODEL, champion=champion.model_version)

    def _earlier_champions(self, tracker: Tracker, champion: ChampionRef) -> list[ChampionRef]:
        """Earlier champions, newest first: the ``previous_champion`` alias, then the ledger's moves."""
        refs: list[ChampionRef] = []
        seen = {champion.registry_version}
        try:
            previous = tracker.alias_ref(PREVIOUS_CHAMPION)
        except RiskcoreError:
            previous = None
        if previous is not None:
            refs.append(previous)
            seen.add(previous.registry_version)
        try:
            moves = [m for m in self.audit.moves() if m.event in MOVES] if self.audit is not None else []
        except AuditError as err:
            log.warning("cannot read the ledger for earlier champions: %s", err)
            moves = []
        versions = [v for m in reversed(moves) for v in (m.to_version, m.from_version) if v]
        for version in dict.fromkeys(versions):
            try:
                registry_version = tracker.registry_version_of(version)
                ref = tracker.version_ref(registry_version) if registry_version else None
            except RiskcoreError:
                continue
            if ref is not None and ref.registry_version not in seen:
                seen.add(ref.registry_version)
                refs.append(ref)
        return refs

    def _verified(self, path: Any, bundle_hash: str, version: str | None = None) -> tuple[ModelBundle | None, str]:
        """The bundle at ``path`` once every file verifies (loaded once per manifest hash), or why not."""
        known = self._loaded.get(bundle_hash) if bundle_hash else None
        try:
            if known is not None:
                verify_bundle(known.path, bundle_hash)
                return known, ""
            bundle = load_bundle(path, expected_hash=bundle_hash or None)
        except RiskcoreError as err:
            return None, str(err)
        except (OSError, ValueError) as err:  # a bundle damaged below what its verification reads
            return None, f"the bundle of {version or path} cannot be loaded ({err})"
        self._loaded[bundle.manifest_hash] = bundle
        return bundle, ""

    def _keep_or_unavailable(self, problem: str) -> Served:
        """Without the registry: keep serving what verifies, degraded; else nothing."""
        served = self._served
        if served.bundle is not None:
            bundle, why = self._verified(served.bundle.path, served.bundle.manifest_hash)
            if bundle is not None:
                return replace(served, status="degraded",
                               reason=f"{problem}; serving {bundle.version}, the last champion seen")
            log.error("the model served until now fails verification: %s", why)
            problem = f"{problem}; the model served until now fails verification"
        return Served(None, "unavailable", problem)

    def _with_challenger(self, served: Served) -> Served:
        """Add the configured shadow challenger when it verifies (never the deciding version itself)."""
        name = self.rules.challenger
        if not name or served.bundle is None or name == served.bundle.version:
            return served
        try:
            known = self._loaded.find(lambda b: b.version == name)
            challenger = self._verified(known.path, known.manifest_hash)[0] if known else None
            if challenger is None:
                challenger = open_model(name, self.settings)
                self._loaded[challenger.manifest_hash] = challenger
        except RiskcoreError as err:
            log.error("the shadow challenger %s cannot be served: %s", name, err)
            return replace(served, challenger_problem=f"the challenger {name} cannot be served (its bundle is "
                                                      "missing or fails verification); the champion decides alone")
        return replace(served, challenger=challenger, canary_share=self.rules.canary_share)

    def _tracker_or_none(self) -> Tracker | None:
        if self._tracker is None:
            try:
                self._tracker = Tracker.from_settings(self.settings)
            except RiskcoreError as err:
                log.error("cannot open the model registry: %s", err)
                return None
        return self._tracker

    def _record(self, served: Served) -> None:
        """Write ``fallback`` / ``restore`` to the ledger when what is served changes between them."""
        state = (served.status, served.champion, served.version)
        before = self._recorded
        if state == before or served.status == "ok" and before[0] == "ok":
            self._recorded = state
            return
        event: ModelEvent = "restore" if served.status == "ok" else "fallback"
        move = ModelMove(event, _actor(), served.champion or "", served.version or "",
                         served.reason or f"the champion {served.champion} verifies and is served again",
                         to_bundle_hash=served.bundle.manifest_hash if served.bundle is not None else "")
        self._recorded = state
        if self.audit is None:
            log.warning("%s (no audit trail to record it in)", move.reason)
        else:
            try:
                self.audit.record_move(move)
            except AuditError as err:
                log.error("cannot record the %s in the ledger: %s", event, err)
        if self._on_move is not None:
            self._on_move(move)
