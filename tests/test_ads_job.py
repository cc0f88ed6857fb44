"""The ADS job's pure parts: the refresh day of weekly and monthly tags, and conf/ads.yml
sections turned into the models' parameters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from jobs.build_ads import refresh_day
from jobs.config import AdsSettings, load_ads_settings
from models.ads import member_lifecycle, member_rfm

SETTINGS = AdsSettings(sections={}, weekly_on=1, monthly_on=15, exports_dir=Path("exports"))


@pytest.mark.parametrize(
    ("cycle", "ds", "expected"),
    [
        ("daily", date(2026, 1, 7), date(2026, 1, 7)),
        # 2026-01-05 is a Monday.
        ("weekly", date(2026, 1, 5), date(2026, 1, 5)),
        ("weekly", date(2026, 1, 11), date(2026, 1, 5)),
        ("weekly", date(2026, 1, 4), date(2025, 12, 29)),
        ("monthly", date(2026, 1, 15), date(2026, 1, 15)),
        ("monthly", date(2026, 1, 31), date(2026, 1, 15)),
        # Before the 15th: the previous month's, across a year boundary.
        ("monthly", date(2026, 1, 14), date(2025, 12, 15)),
        ("monthly", date(2026, 3, 1), date(2026, 2, 15)),
    ],
)
def test_refresh_day_is_the_latest_cycle_day_on_or_before_ds(cycle, ds, expected):
    assert refresh_day(cycle, ds, SETTINGS) == expected


def test_sections_become_model_parameters_and_unknown_ones_are_refused():
    settings = load_ads_settings()
    rfm = settings.params("rfm", member_rfm.RfmParams)
    assert rfm.window_days == 365 and rfm.quantiles == (0.2, 0.4, 0.6, 0.8)
    assert settings.params("lifecycle", member_lifecycle.LifecycleParams) == member_lifecycle.LifecycleParams()
    wrong = AdsSettings(sections={"lifecycle": {"sleeping_days": 90}}, weekly_on=1, monthly_on=1, exports_dir=Path("x"))
    with pytest.raises(ValueError, match=r"lifecycle has unknown parameter\(s\) \['sleeping_days'\]"):
        wrong.params("lifecycle", member_lifecycle.LifecycleParams)
