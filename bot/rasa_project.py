"""Training the Rasa model, only when what goes into it changed.

The Rasa project lives in the repository (``config.yml``, ``nlu/domain.yml``,
``nlu/data/``). Training happens in a generated folder, ``<home>/rasa/project``: a copy of
those files plus lookup tables made from the store (account names, rep names, product
categories), which are never committed. A fingerprint over everything in that folder and
the Rasa version names the model (``<home>/rasa/models/salesbot-<fingerprint>.tar.gz``);
``current.json`` beside the models points at the one in use. :func:`ensure_model` trains
only when no model with the current fingerprint exists.

Rasa runs in its own virtual environment (``.venv-rasa``, Python 3.10) as a subprocess;
nothing here imports it. Rasa imports our custom NLU components (``nlu/components/``) from
the repository: every Rasa process gets the environment of :func:`rasa_child_environment`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import nulls_last
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.settings import Settings
from store.db import session_scope
from store.models import Account, Product, Rep

log = logging.getLogger(__name__)

# Bump when the way the training folder is built changes, so old models are not reused.
BUILD_VERSION = "1"
# The account lookup becomes one regular expression that Rasa runs on every message; past
# a few thousand names it costs milliseconds per message, so only the largest accounts go
# in (the action server still scans every message for any known account name).
DEFAULT_MAX_ACCOUNT_NAMES = 5000
KEEP_MODELS = 3
MODEL_PREFIX = "salesbot-"
POINTER_FILE = "current.json"

_WHITESPACE = re.compile(r"\s+")
_ANNOTATED_ACCOUNT = re.compile(r"\[([^\]]+)\]\(account\)")
_HAS_LETTER = re.compile(r"[^\W\d_]")


class RasaProjectError(RuntimeError):
    """The Rasa project cannot be built or trained."""


class RasaNotInstalledError(RasaProjectError):
    """The Rasa environment (``.venv-rasa``) is missing."""


class RasaTrainingError(RasaProjectError):
    """``rasa train`` failed; ``log_path`` holds its full output."""

    def __init__(self, message: str, *, log_path: Path) -> None:
        super().__init__(message)
        self.log_path = log_path


@dataclass(frozen=True)
class StoreVocabulary:
    """Names from the store that become lookup tables in the training data."""

    account_names: tuple[str, ...] = ()
    rep_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    """A trained model and what it was trained from."""

    path: Path
    fingerprint: str
    rasa_version: str
    trained_at: str
    training_seconds: float
    lookup_sizes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingOutcome:
    model: ModelInfo
    trained: bool


def source_root() -> Path:
    """The checkout holding ``config.yml`` and ``nlu/`` (the package is installed editable)."""
    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RasaProject:
    """Where the Rasa sources, the Rasa environment and the generated files live."""

    source_dir: Path
    home: Path
    rasa_venv: Path
    model_cache: Path | None = None
    """A folder shared by every checkout on this machine (``~/.cache/salesbot/rasa-models``):
    a model trained from the same inputs in another clone is copied instead of retrained."""

    @classmethod
    def default(cls, home: Path) -> RasaProject:
        root = source_root()
        cache = Path(
            os.environ.get("SALESBOT_CACHE_DIR")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "salesbot"
        )
        return cls(
            source_dir=root,
            home=Path(home),
            rasa_venv=root / ".venv-rasa",
            model_cache=cache / "rasa-models",
        )

    @property
    def config_file(self) -> Path:
        return self.source_dir / "config.yml"

    @property
    def domain_file(self) -> Path:
        return self.source_dir / "nlu" / "domain.yml"

    @property
    def data_dir(self) -> Path:
        return self.source_dir / "nlu" / "data"

    @property
    def components_dir(self) -> Path:
        """The custom NLU components ``config.yml`` names (``nlu.components.*``)."""
        return self.source_dir / "nlu" / "components"

    @property
    def work_dir(self) -> Path:
        return self.home / "rasa" / "project"

    @property
    def models_dir(self) -> Path:
        return self.home / "rasa" / "models"

    @property
    def log_path(self) -> Path:
        return self.home / "rasa" / "train.log"

    @property
    def rasa_executable(self) -> Path:
        return self.rasa_venv / "bin" / "rasa"

    def check_sources(self) -> None:
        missing = [p for p in (self.config_file, self.domain_file, self.data_dir) if not p.exists()]
        if missing:
            raise RasaProjectError(
                "the Rasa project files are missing ("
                + ", ".join(str(p) for p in missing)
                + "); salesbot must run from a source checkout"
            )

    def rasa_version(self) -> str:
        """The Rasa version installed in ``rasa_venv``, read from its package metadata."""
        found = sorted(self.rasa_venv.glob("lib/python3*/site-packages/rasa-*.dist-info"))
        if not self.rasa_executable.exists() or not found:
            raise RasaNotInstalledError(
                f"Rasa is not installed at {self.rasa_venv}: run 'make setup' to create it"
            )
        return found[-1].name.removeprefix("rasa-").removesuffix(".dist-info")


# ----------------------------------------------------------------------- vocabulary


def clean_names(names: Iterable[str], *, limit: int | None = None) -> list[str]:
    """Names fit for a lookup table: whitespace collapsed, at least three characters with
    a letter, no duplicates (ignoring case), first ``limit`` kept, sorted."""
    seen: set[str] = set()
    kept: list[str] = []
    for raw in names:
        name = _WHITESPACE.sub(" ", str(raw)).strip()
        if len(name) < 3 or len(name) > 120 or not _HAS_LETTER.search(name):
            continue
        key = name.casefold()
        if key in seen:
            continue
        seen.add(key)
        kept.append(name)
        if limit is not None and len(kept) >= limit:
            break
    return sorted(kept, key=lambda n: (n.casefold(), n))


def vocabulary_from_store(
    engine: Engine, *, max_account_names: int = DEFAULT_MAX_ACCOUNT_NAMES
) -> StoreVocabulary:
    """Account names (largest accounts first, at most ``max_account_names``), rep names and
    product categories from the store."""
    with session_scope(engine) as session:
        accounts = _account_names(session, limit=max_account_names)
        reps = session.exec(select(Rep.name).order_by(col(Rep.name))).all()
        categories = session.exec(select(Product.category).distinct()).all()
    return StoreVocabulary(
        account_names=tuple(accounts),
        rep_names=tuple(clean_names(reps)),
        categories=tuple(clean_names(categories)),
    )


def _account_names(session: Session, *, limit: int) -> list[str]:
    stmt = select(Account.name).order_by(
        nulls_last(col(Account.annual_revenue).desc()), col(Account.name)
    )
    # read a little more than the limit: duplicates and unusable names are dropped
    rows = session.exec(stmt.limit(limit * 2 + 100)).all()
    return clean_names(rows, limit=limit)


# -------------------------------------------------------------------- training folder


def _lookup_document(name: str, elements: Iterable[str], comment: str) -> str:
    body = "".join(f"- {element}\n" for element in elements)
    document = {"version": "3.1", "nlu": [{"lookup": name, "examples": body}]}
    return f"# {comment}\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _static_lookup_elements(path: Path) -> list[str]:
    """Elements of a lookup table in one of the repository's NLU files."""
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    elements: list[str] = []
    for item in document.get("nlu", []):
        if "lookup" in item:
            for line in str(item.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    elements.append(line[2:].strip())
    return elements


def training_account_names(data_dir: Path) -> list[str]:
    """Every account name annotated in the NLU training files (``[Acme](account)``)."""
    names: list[str] = []
    for path in sorted((data_dir / "nlu").glob("*.yml")):
        names.extend(_ANNOTATED_ACCOUNT.findall(path.read_text(encoding="utf-8")))
    return clean_names(names)


def lookup_seed(names: Iterable[str]) -> list[str]:
    """Half of the training account names, chosen by a stable hash.

    The store's names are unknown when the data is written, so without a seed DIET never
    sees the account lookup fire during training and would learn nothing from it. With
    half of the training names in the lookup it learns that a lookup hit is strong
    evidence of an account, and from the other half that names it does not know are
    found from their context.
    """
    return [n for n in names if hashlib.sha256(n.casefold().encode()).digest()[0] % 2 == 0]


def build_training_dir(project: RasaProject, vocabulary: StoreVocabulary) -> dict[str, int]:
    """Write ``project.work_dir``: the repository's Rasa files plus the generated lookups.

    Returns the number of entries in each generated lookup table. Rasa's own cache in the
    folder (``.rasa/``) is kept, so a retrain after a small change reuses what it can.
    """
    project.check_sources()
    work = project.work_dir
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(project.data_dir, data)
    shutil.copyfile(project.config_file, work / "config.yml")
    shutil.copyfile(project.domain_file, work / "domain.yml")
    # a copy of the custom components' code, only so that the fingerprint covers it (Rasa
    # imports them from the repository)
    components = work / "components"
    if components.exists():
        shutil.rmtree(components)
    if project.components_dir.is_dir():
        components.mkdir()
        for source in sorted(project.components_dir.glob("*.py")):
            shutil.copyfile(source, components / source.name)

    lookups = data / "lookups"
    lookups.mkdir(exist_ok=True)
    people = _static_lookup_elements(lookups / "person_name.yml")
    for rep in vocabulary.rep_names:
        people.extend([rep, rep.split(" ")[0]])
    categories = _static_lookup_elements(lookups / "category.yml") + list(vocabulary.categories)
    tables = {
        "person_name": clean_names(people),
        "category": clean_names(categories),
        "account": clean_names(
            [*vocabulary.account_names, *lookup_seed(training_account_names(data))]
        ),
    }
    comments = {
        "person_name": "first names (repository list) and the names of the reps in the store",
        "category": "product categories (repository list) and the categories in the store",
        "account": "account names in the store and half of the training data's names",
    }
    sizes: dict[str, int] = {}
    for name, elements in tables.items():
        target = lookups / f"{name}.yml"
        if elements:
            target.write_text(_lookup_document(name, elements, comments[name]), encoding="utf-8")
        elif target.exists():
            target.unlink()
        sizes[name] = len(elements)
    return sizes


def _training_files(work: Path) -> Iterator[Path]:
    yield work / "config.yml"
    yield work / "domain.yml"
    yield from sorted(p for p in (work / "data").rglob("*") if p.is_file())
    yield from sorted((work / "components").glob("*.py"))


def training_fingerprint(work: Path, rasa_version: str) -> str:
    """sha256 over the training folder's files (names and bytes) and the Rasa version."""
    digest = hashlib.sha256()
    digest.update(f"salesbot-rasa-build {BUILD_VERSION}\nrasa {rasa_version}\n".encode())
    for path in _training_files(work):
        relative = path.relative_to(work).as_posix()
        content = path.read_bytes()
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


# ------------------------------------------------------------------------- models


def model_path(project: RasaProject, fingerprint: str) -> Path:
    return project.models_dir / f"{MODEL_PREFIX}{fingerprint[:16]}.tar.gz"


def current_model(project: RasaProject) -> ModelInfo | None:
    """The model ``current.json`` points at, or None when there is none on disk."""
    pointer = project.models_dir / POINTER_FILE
    try:
        raw: dict[str, Any] = json.loads(pointer.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise RasaProjectError(f"{pointer} is not valid JSON: {exc}") from exc
    path = project.models_dir / raw["model"]
    if not path.exists():
        return None
    return ModelInfo(
        path=path,
        fingerprint=raw["fingerprint"],
        rasa_version=raw["rasa_version"],
        trained_at=raw["trained_at"],
        training_seconds=float(raw["training_seconds"]),
        lookup_sizes={k: int(v) for k, v in raw.get("lookup_sizes", {}).items()},
    )


def current_model_path(settings: Settings) -> Path | None:
    """The model ``salesbot serve`` should load: the current one under ``settings.home``."""
    info = current_model(RasaProject.default(settings.home))
    return info.path.resolve() if info is not None else None


def _write_pointer(project: RasaProject, info: ModelInfo) -> None:
    record = asdict(info)
    record["model"] = info.path.name
    del record["path"]
    pointer = project.models_dir / POINTER_FILE
    temporary = pointer.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, pointer)


def _prune_models(project: RasaProject, keep: Path) -> None:
    models = sorted(
        project.models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in [m for m in models if m != keep][KEEP_MODELS - 1 :]:
        old.unlink()


@contextmanager
def _training_lock(project: RasaProject) -> Iterator[None]:
    """One build or training at a time per home folder (CLI, tests, setup)."""
    lock_path = project.home / "rasa" / "train.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pythonpath_with_source_root(pythonpath: str) -> str:
    """``pythonpath`` with this checkout first, so a child process imports this checkout's
    code whichever one the virtual environment was installed from."""
    root = str(source_root())
    paths = [p for p in pythonpath.split(os.pathsep) if p and p != root]
    return os.pathsep.join([root, *paths])


def rasa_child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """What every Rasa process we start needs on top of ``base`` (default: ``os.environ``):
    the repository root on PYTHONPATH, so that Rasa can import the custom components
    ``config.yml`` names (``nlu.components.*``), no telemetry (no network), quiet TensorFlow.

    Only the changed variables are returned, for a supervised child's ``env`` (merged over
    ``os.environ`` by the supervisor); :func:`rasa_environment` is the whole environment.
    """
    base = dict(os.environ) if base is None else base
    return {
        "PYTHONPATH": pythonpath_with_source_root(base.get("PYTHONPATH", "")),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
    }


def rasa_environment() -> dict[str, str]:
    """The whole environment for a Rasa subprocess: ``os.environ`` and
    :func:`rasa_child_environment`."""
    env = dict(os.environ)
    env.update(rasa_child_environment(env))
    return env


def _train(project: RasaProject, fingerprint: str) -> float:
    target = model_path(project, fingerprint)
    project.models_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(project.rasa_executable),
        "train",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "data",
        "--out",
        str(project.models_dir.resolve()),
        "--fixed-model-name",
        target.name.removesuffix(".tar.gz"),
    ]
    started = time.monotonic()
    with project.log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        completed = subprocess.run(
            command,
            cwd=project.work_dir,
            env=rasa_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    seconds = time.monotonic() - started
    if completed.returncode != 0 or not target.exists():
        tail = project.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise RasaTrainingError(
            f"rasa train failed (exit code {completed.returncode}); last lines of "
            f"{project.log_path}:\n" + "\n".join(tail),
            log_path=project.log_path,
        )
    return seconds


def ensure_model(
    project: RasaProject, vocabulary: StoreVocabulary, *, force: bool = False
) -> TrainingOutcome:
    """Make sure the current model matches the repository's Rasa files and ``vocabulary``.

    Builds the training folder, fingerprints it, and trains only when no model with that
    fingerprint exists (or ``force``). A model trained earlier from the same inputs is
    reused without training.
    """
    version = project.rasa_version()
    with _training_lock(project):
        sizes = build_training_dir(project, vocabulary)
        fingerprint = training_fingerprint(project.work_dir, version)
        current = current_model(project)
        if not force and current is not None and current.fingerprint == fingerprint:
            return TrainingOutcome(model=current, trained=False)
        target = model_path(project, fingerprint)
        if not force and not target.exists():
            _copy_from_cache(project, target)
        if not force and target.exists():
            info = ModelInfo(
                path=target,
                fingerprint=fingerprint,
                rasa_version=version,
                trained_at=dt.datetime.fromtimestamp(target.stat().st_mtime, dt.UTC).isoformat(),
                training_seconds=0.0,
                lookup_sizes=sizes,
            )
            _write_pointer(project, info)
            return TrainingOutcome(model=info, trained=False)
        seconds = _train(project, fingerprint)
        info = ModelInfo(
            path=target,
            fingerprint=fingerprint,
            rasa_version=version,
            trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            training_seconds=round(seconds, 1),
            lookup_sizes=sizes,
        )
        _write_pointer(project, info)
        _prune_models(project, keep=target)
        _copy_to_cache(project, target)
        return TrainingOutcome(model=info, trained=True)


MODEL_CACHE_KEEP = 6
"""Models kept in the shared cache (newest first); each is about 25 MB."""


def _copy_from_cache(project: RasaProject, target: Path) -> None:
    if project.model_cache is None:
        return
    cached = project.model_cache / target.name
    if cached.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".copying")
        shutil.copyfile(cached, tmp)
        tmp.replace(target)


def _copy_to_cache(project: RasaProject, model: Path) -> None:
    """Offer a freshly trained model to other checkouts; a cache that cannot be written is skipped."""
    if project.model_cache is None:
        return
    try:
        project.model_cache.mkdir(parents=True, exist_ok=True)
        tmp = project.model_cache / (model.name + ".copying")
        shutil.copyfile(model, tmp)
        tmp.replace(project.model_cache / model.name)
        kept = sorted(
            project.model_cache.glob(f"{MODEL_PREFIX}*.tar.gz"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in kept[MODEL_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not keep the model in the shared cache %s: %s", project.model_cache, exc)
