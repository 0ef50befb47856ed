"""The verified bundle to score with: a bundle folder, a model version, or the registry's champion.

Every face resolves ``--model``, ``[serving] challenger`` and the model server's choice here, so a
version name means the same bundle on the command line, in the API and on the dashboard.
"""

from __future__ import annotations

import os
from pathlib import Path

from riskcore.config import Settings
from riskcore.modelling.bundle import ModelBundle, load_bundle
from riskcore.modelling.tracking import Tracker, load_champion

__all__ = ["has_registry", "open_model"]



def open_model(model: str | os.PathLike[str] | None, settings: Settings) -> ModelBundle:
    """The verified bundle to score with: a bundle folder, or the registry's champion.

    Parameters
    ----------
    model : a bundle folder, a model version (a folder of ``settings.models_dir``), or ``None`` / ``"champion"``
        for the champion of the settings' experiment store.
    settings : where the experiment store is.

    Returns
    -------
    riskcore.modelling.bundle.ModelBundle

    Raises
    ------
    riskcore.errors.ModelNotFoundError
        When there is no champion yet.
    riskcore.errors.BundleError
        When the bundle is missing or was altered.
    """
    if model is None or str(model) == "champion":
        return load_champion(Tracker.from_settings(settings))
    path = Path(model)
    if not path.exists() and path.name == str(model):  # a model version, e.g. lightgbm-20261201T101500Z
        if (settings.models_dir / path.name).is_dir():
            return load_bundle(settings.models_dir / path.name)
        if has_registry(settings):
            # a version trained on another host: its bundle comes through the tracking server, verified
            tracker = Tracker.from_settings(settings)
            registry_version = tracker.registry_version_of(path.name)
            ref = tracker.version_ref(registry_version) if registry_version is not None else None
            if ref is not None:
                return load_bundle(ref.bundle_path, expected_hash=ref.bundle_hash or None)
    return load_bundle(path)


def has_registry(settings: Settings) -> bool:
    """Whether there is a registry to ask (a store set, or the default one made): never make one to look."""
    return bool(settings.tracking_uri) or (settings.home / "mlflow.db").is_file()
