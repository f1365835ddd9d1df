"""The digest's charts are real PNG images of the promised size, also when a section is empty."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image

from analytics.digest import build_digest
from render.charts import HEIGHT_PX, WIDTH_PX, digest_charts
from store.team import team_frames
from tests.digests.seed import AS_OF, SINCE, seed_team


@pytest.fixture
def data(sqlite_engine):
    seeded = seed_team(sqlite_engine)
    frames = team_frames(
        sqlite_engine, seeded.team, calls_since=dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    )
    digest = build_digest(**frames.frames(), rep_ids=seeded.team, today=AS_OF, since=SINCE,
                          manager_id=seeded.reps["vera"])  # fmt: skip
    return digest.to_data()


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.verify()  # a truncated or corrupt file raises here
    return Image.open(io.BytesIO(png))


def test_three_phone_sized_pngs(data):
    charts = digest_charts(data)
    assert [c.filename for c in charts] == [
        "pipeline_by_stage.png", "revenue_at_risk_by_rep.png", "forecast_vs_quota.png",
    ]  # fmt: skip
    for chart in charts:
        image = _image(chart.png)
        assert image.format == "PNG"
        assert image.size == (WIDTH_PX, HEIGHT_PX) == (1200, 700)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 50  # drawn, not a blank canvas


def test_empty_sections_still_draw_a_readable_chart(data):
    empty = dict(data)
    empty["charts"] = {
        "pipeline_by_stage": {"as_of": data["as_of"], "stages": []},
        "revenue_at_risk_by_rep": {"as_of": None, "reps": []},
        "forecast_vs_quota": {**data["forecast"], "quota": None, "weighted": None},
    }
    for chart in digest_charts(empty):
        assert _image(chart.png).size == (1200, 700)
