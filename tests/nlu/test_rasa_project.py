"""Building the Rasa training folder from the repository and the store, fingerprinting it,
and reusing a model instead of training when nothing changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session

from bot.rasa_project import (
    RasaProject,
    RasaProjectError,
    StoreVocabulary,
    build_training_dir,
    clean_names,
    current_model,
    ensure_model,
    lookup_seed,
    model_path,
    source_root,
    training_account_names,
    training_fingerprint,
    vocabulary_from_store,
)
from store.models import Account, Product, Rep

ROOT = source_root()


def _lookup(work: Path, name: str) -> list[str]:
    document = yaml.safe_load((work / "data" / "lookups" / f"{name}.yml").read_text())
    (table,) = document["nlu"]
    assert table["lookup"] == name
    return [line[2:] for line in table["examples"].splitlines()]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of the repository's Rasa files, safe to edit."""
    copy = tmp_path / "source"
    (copy / "nlu").mkdir(parents=True)
    shutil.copyfile(ROOT / "config.yml", copy / "config.yml")
    shutil.copyfile(ROOT / "nlu" / "domain.yml", copy / "nlu" / "domain.yml")
    shutil.copytree(ROOT / "nlu" / "data", copy / "nlu" / "data")
    return copy


@pytest.fixture
def project(source: Path, tmp_path: Path) -> RasaProject:
    return RasaProject(source_dir=source, home=tmp_path / "var", rasa_venv=ROOT / ".venv-rasa")


VOCABULARY = StoreVocabulary(
    account_names=("Zebulon Freight Lines", "Quillfeather & Daughters LLC"),
    rep_names=("Thaddeus Okonkwo", "Marisela"),
    categories=("Janitorial Paper",),
)


def test_clean_names_drops_duplicates_and_unusable_names_and_sorts():
    names = ["  Acme   Corp ", "ACME CORP", "7", "A1", "--", "Globex", "b&b supply"]
    assert clean_names(names) == ["Acme Corp", "b&b supply", "Globex"]


def test_clean_names_keeps_the_first_names_up_to_the_limit():
    assert clean_names(["Zeta Foods", "Alpha Labs", "Mid Corp"], limit=2) == [
        "Alpha Labs",
        "Zeta Foods",
    ]


def test_training_folder_holds_the_sources_and_the_store_lookups(project: RasaProject):
    sizes = build_training_dir(project, VOCABULARY)
    work = project.work_dir
    assert (work / "config.yml").read_bytes() == (project.source_dir / "config.yml").read_bytes()
    assert (work / "domain.yml").read_bytes() == project.domain_file.read_bytes()
    assert (work / "data" / "rules.yml").exists()

    accounts = _lookup(work, "account")
    assert {"Zebulon Freight Lines", "Quillfeather & Daughters LLC"} <= set(accounts)
    # half of the training data's account names seed the table, so DIET learns to use it
    seeded = set(lookup_seed(training_account_names(project.data_dir)))
    assert seeded and seeded <= set(accounts)
    assert len(seeded) < len(training_account_names(project.data_dir))

    people = _lookup(work, "person_name")
    assert {"Thaddeus Okonkwo", "Thaddeus", "Marisela", "Sarah"} <= set(people)
    categories = _lookup(work, "category")
    assert {"Janitorial Paper", "cleaning supplies"} <= set(categories)
    assert sizes == {
        "person_name": len(people),
        "category": len(categories),
        "account": len(accounts),
    }


def test_store_names_never_reach_the_repository(project: RasaProject):
    build_training_dir(project, VOCABULARY)
    repository_text = "".join(
        p.read_text() for p in project.source_dir.rglob("*.yml") if p.is_file()
    )
    assert "Zebulon" not in repository_text
    assert "Zebulon" in (project.work_dir / "data" / "lookups" / "account.yml").read_text()


def test_fingerprint_changes_with_names_data_and_rasa_version(project: RasaProject):
    build_training_dir(project, VOCABULARY)
    first = training_fingerprint(project.work_dir, "3.6.21")
    build_training_dir(project, VOCABULARY)
    assert training_fingerprint(project.work_dir, "3.6.21") == first
    assert training_fingerprint(project.work_dir, "3.6.20") != first

    build_training_dir(project, StoreVocabulary(account_names=("Zebulon Freight Lines",)))
    assert training_fingerprint(project.work_dir, "3.6.21") != first

    greetings = project.data_dir / "nlu" / "chitchat.yml"
    greetings.write_text(greetings.read_text().replace("      - hiya\n", "      - hiya!!\n"))
    build_training_dir(project, VOCABULARY)
    assert training_fingerprint(project.work_dir, "3.6.21") != first


def test_a_model_with_the_same_fingerprint_is_reused_without_training(project: RasaProject):
    build_training_dir(project, VOCABULARY)
    fingerprint = training_fingerprint(project.work_dir, project.rasa_version())
    trained_earlier = model_path(project, fingerprint)
    trained_earlier.parent.mkdir(parents=True)
    trained_earlier.write_bytes(b"model from an earlier training")
    assert current_model(project) is None

    outcome = ensure_model(project, VOCABULARY)

    assert outcome.trained is False
    assert outcome.model.path == trained_earlier
    assert outcome.model.fingerprint == fingerprint
    pointer = json.loads((project.models_dir / "current.json").read_text())
    assert pointer["model"] == trained_earlier.name
    assert current_model(project) == outcome.model
    # and the pointer alone is enough the second time
    assert ensure_model(project, VOCABULARY).model == outcome.model


def test_missing_sources_are_reported(project: RasaProject):
    shutil.rmtree(project.source_dir / "nlu")
    with pytest.raises(RasaProjectError, match="source checkout"):
        build_training_dir(project, VOCABULARY)


def test_vocabulary_from_store_takes_the_largest_accounts(engine, session: Session):
    boss = Rep(external_id="r1", name="Imogen Achterberg", email="imogen@example.com")
    session.add(boss)
    session.add(Rep(external_id="r2", name="Bartholomew", email="bart@example.com"))
    for external_id, name, revenue in [
        ("a1", "Small Shop", 1_000.0),
        ("a2", "Huge Hospital", 9_000_000.0),
        ("a3", "Mid Market Foods", 50_000.0),
        ("a4", "Unknown Size Co", None),
    ]:
        session.add(Account(external_id=external_id, name=name, annual_revenue=revenue))
    session.add(Product(external_id="p1", name="Nitrile gloves", category="PPE"))
    session.add(Product(external_id="p2", name="Vinyl gloves", category="PPE"))
    session.add(Product(external_id="p3", name="Roll towels", category="Paper"))
    session.commit()

    vocabulary = vocabulary_from_store(engine, max_account_names=2)

    assert vocabulary.account_names == ("Huge Hospital", "Mid Market Foods")
    assert vocabulary.rep_names == ("Bartholomew", "Imogen Achterberg")
    assert vocabulary.categories == ("Paper", "PPE")
    everything = vocabulary_from_store(engine)
    assert set(everything.account_names) == {
        "Small Shop",
        "Huge Hospital",
        "Mid Market Foods",
        "Unknown Size Co",
    }


def test_a_model_trained_in_another_checkout_is_copied_from_the_shared_cache(
    source: Path, tmp_path: Path
):
    cache = tmp_path / "cache"
    first = RasaProject(
        source_dir=source,
        home=tmp_path / "clone-a",
        rasa_venv=ROOT / ".venv-rasa",
        model_cache=cache,
    )
    build_training_dir(first, VOCABULARY)
    fingerprint = training_fingerprint(first.work_dir, first.rasa_version())
    cache.mkdir()
    (cache / model_path(first, fingerprint).name).write_bytes(b"model trained in clone b")

    outcome = ensure_model(first, VOCABULARY)

    assert outcome.trained is False
    assert outcome.model.path == model_path(first, fingerprint)
    assert outcome.model.path.read_bytes() == b"model trained in clone b"
