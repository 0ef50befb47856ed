"""Settings: frozen dataclasses with the product's defaults, loaded once at the edges.

:func:`load_settings` reads ``riskcore.toml`` (or the file named by
``RISKCORE_CONFIG``) and a few environment variables. Engine functions never
read settings themselves: the CLI, the dashboard and the API load them and
pass the values down.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from riskcore.errors import ConfigError

__all__ = ["CostMode", "Costs", "Profile", "RiskBands", "Settings", "TrainingConfig", "load_settings",
           "parse_candidates", "set_thread_defaults"]

CostMode = Literal["fixed", "exposure"]
Profile = Literal["quick", "full"]
RiskBands = Literal["master", "fixed"]
ModelKind = Literal["logistic", "lightgbm", "xgboost", "hist_gb", "random_forest", "ensemble"]
Calibration = Literal["isotonic", "platt"]
CalibrationRows = Literal["pooled", "validation"]


@dataclass(frozen=True)
class Costs:
    """What a wrong decision costs.

    ``fn``: a missed default (an ``accept`` that defaults); ``fp``: a false alarm
    (a ``refer`` that would have repaid: lost margin and review effort). In
    ``exposure`` mode a missed default instead costs ``lgd × exposure`` of that row.
    """

    fn: float = 50_000.0
    fp: float = 10_000.0
    lgd: float = 0.45
    mode: CostMode = "fixed"

    def __post_init__(self) -> None:
        problems = []
        if not (self.fn > 0 and self.fn < 1e12):
            problems.append(f"cost of a missed default fn={self.fn!r} must be a positive amount")
        if not (self.fp > 0 and self.fp < 1e12):
            problems.append(f"cost of a false alarm fp={self.fp!r} must be a positive amount")
        if not (0 < self.lgd <= 1):
            problems.append(f"lgd={self.lgd!r} must be in (0, 1], e.g. 0.45")
        if self.mode not in ("fixed", "exposure"):
            problems.append(f"mode={self.mode!r} must be 'fixed' or 'exposure'")
        if problems:
            raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class TrainingConfig:
    """How a training run searches, calibrates and chooses.

    ``quick`` is the profile of the dashboard's first start and of the tests;
    ``full`` searches every candidate with a larger budget.
    """

    profile: Profile = "full"
    candidates: tuple[ModelKind, ...] = ("logistic", "lightgbm", "xgboost", "hist_gb", "random_forest", "ensemble")
    n_iter: int = 6
    cv_folds: int = 4
    random_state: int = 7
    calibration: Calibration = "isotonic"
    # rows the calibrator learns from: "pooled" = the chosen candidate's out-of-fold training scores plus the
    # validation rows (cross-fitted, as scikit-learn's CalibratedClassifierCV(ensemble=False) does);
    # "validation" = the validation rows only
    calibrate_on: CalibrationRows = "pooled"
    smote: bool = False
    allow_leaks: bool = False
    tie_tolerance: float = 0.003
    n_bootstrap: int = 1000
    max_search_rows: int = 60_000
    importance_warning: float = 0.5
    # cross-validation fits run this many at a time, each on one thread, in worker processes
    n_jobs: int = 2

    def __post_init__(self) -> None:
        kinds = get_args(ModelKind)
        unknown = [k for k in self.candidates if k not in kinds]
        if unknown:
            raise ConfigError(f"unknown model kind(s) {', '.join(map(repr, unknown))}; choose from "
                              f"{', '.join(kinds)} (comma-separated, e.g. 'logistic,lightgbm')")
        if not self.candidates:
            raise ConfigError("no candidate model kinds; name at least one, e.g. 'lightgbm'")
        members = [k for k in self.candidates if k != "ensemble"]
        if "ensemble" in self.candidates and len(members) < 2:
            raise ConfigError("the ensemble averages other candidates: name at least two others with it, "
                              "e.g. 'logistic,lightgbm,ensemble'")

    @classmethod
    def quick(cls, **overrides: Any) -> TrainingConfig:
        """The quick profile: two strong, cheap candidates and a small search."""
        base = cls(profile="quick", candidates=("logistic", "lightgbm"), n_iter=3, cv_folds=3)
        return replace(base, **overrides)

    @classmethod
    def for_profile(cls, profile: Profile, **overrides: Any) -> TrainingConfig:
        """The config of a named profile, with overrides."""
        if profile == "quick":
            return cls.quick(**overrides)
        if profile == "full":
            return replace(cls(), **overrides)
        raise ConfigError(f"profile {profile!r} is unknown; use 'quick' or 'full'")


def parse_candidates(text: str) -> tuple[ModelKind, ...]:
    """Model kinds from a comma-separated list such as ``"logistic,lightgbm"`` (spaces and case ignored).

    Raises
    ------
    ConfigError
        When a name is not a model kind (the message lists the kinds).
    """
    kinds = tuple(dict.fromkeys(k.strip().casefold().replace("-", "_") for k in str(text).split(",") if k.strip()))
    TrainingConfig(candidates=kinds)  # type: ignore[arg-type]  # validates, with the message users see
    return kinds  # type: ignore[return-value]


@dataclass(frozen=True)
class Settings:
    """Everything the faces need: where state lives, costs, bands, API limits."""

    home: Path = field(default_factory=lambda: Path.cwd() / ".riskcore")
    tracking_uri: str = ""
    audit_url: str = ""
    model_name: str = "riskcore-pd"
    costs: Costs = field(default_factory=Costs)
    risk_bands: RiskBands = "master"
    api_max_batch: int = 1000
    api_rate_limit: int = 100
    api_max_body_bytes: int = 5_000_000
    upload_max_mb: int = 1024
    demo_companies: int = 5000

    @property
    def models_dir(self) -> Path:
        """Folder of model bundles."""
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        """Folder of generated data (the demo portfolio)."""
        return self.home / "data"

    @property
    def resolved_tracking_uri(self) -> str:
        """The MLflow tracking URI: the setting, or a SQLite file in ``home``."""
        if self.tracking_uri:
            return self.tracking_uri
        return "sqlite:///" + str((self.home / "mlflow.db").resolve())

    @property
    def resolved_audit_url(self) -> str:
        """The audit database URL: the setting, or a SQLite file in ``home``."""
        if self.audit_url:
            return self.audit_url
        return "sqlite:///" + str((self.home / "audit.db").resolve())

    @property
    def keys_file(self) -> Path:
        """Where the API's hashed keys are kept."""
        return self.home / "api_keys.json"


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"setting {name}={value!r} must be true or false")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name}={value!r} must be a number") from None
    if isinstance(default, Path):
        return Path(value).expanduser()
    return value


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load settings from a TOML file and the environment.

    Order: defaults, then the file (``path``, else ``$RISKCORE_CONFIG``, else
    ``./riskcore.toml`` when it exists), then ``RISKCORE_HOME``,
    ``MLFLOW_TRACKING_URI``, ``RISKCORE_AUDIT_URL`` and ``RISKCORE_DEMO_COMPANIES``.

    Raises
    ------
    ConfigError
        When the file cannot be parsed or a value is invalid.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    file = path or env.get("RISKCORE_CONFIG") or ("riskcore.toml" if Path("riskcore.toml").exists() else None)
    if file:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"settings file {str(file)!r} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"settings file {str(file)!r} is not valid TOML: {err}") from None
    base = Settings()
    kwargs: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    for key, value in data.items():
        if key == "costs":
            if not isinstance(value, dict):
                raise ConfigError("[costs] must be a table with fn, fp, lgd, mode")
            unknown = set(value) - {"fn", "fp", "lgd", "mode"}
            if unknown:
                raise ConfigError(f"unknown cost settings {sorted(unknown)!r}; allowed: fn, fp, lgd, mode")
            kwargs["costs"] = Costs(**{k: (float(v) if k != "mode" else v) for k, v in value.items()})
        elif key in known:
            kwargs[key] = _coerce(key, value, getattr(base, key))
        else:
            raise ConfigError(f"unknown setting {key!r}; allowed: {', '.join(sorted(known))}")
    if env.get("RISKCORE_HOME"):
        kwargs["home"] = Path(env["RISKCORE_HOME"]).expanduser()
    if env.get("MLFLOW_TRACKING_URI"):
        kwargs["tracking_uri"] = env["MLFLOW_TRACKING_URI"]
    if env.get("RISKCORE_AUDIT_URL"):
        kwargs["audit_url"] = env["RISKCORE_AUDIT_URL"]
    if env.get("RISKCORE_DEMO_COMPANIES"):
        kwargs["demo_companies"] = _coerce("RISKCORE_DEMO_COMPANIES", env["RISKCORE_DEMO_COMPANIES"], 0)
    settings = replace(base, **kwargs)
    if settings.risk_bands not in ("master", "fixed"):
        raise ConfigError(f"risk_bands={settings.risk_bands!r} must be 'master' or 'fixed'")
    if settings.api_max_batch < 1 or settings.api_rate_limit < 1:
        raise ConfigError("api_max_batch and api_rate_limit must be at least 1")
    return settings


def set_thread_defaults() -> None:
    """Make OpenMP threads sleep instead of spin while they wait (call before importing the models).

    scikit-learn's histogram boosting and LightGBM use OpenMP. Its default
    spin-waiting collapses when another process shares the two cores this
    product targets: three HistGradientBoosting fits took 11.2 s spinning
    against 3.0 s passive with one other busy process. Explicit settings win.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
