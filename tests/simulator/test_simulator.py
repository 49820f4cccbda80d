"""The monitor simulator against a real server: every reading stored exactly once."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.core.config import Settings
from app.simulator import Baseline, Format, Scenario, SignalModel, simulate
from tests.fixtures.cli import run_cli, scalar, seed_device
from tests.fixtures.proxy import TcpProxy
from tests.fixtures.server import running_server


@pytest.mark.slow
async def test_20_monitors_for_30_s_store_every_reading_exactly_once(migrated_url: str):
    key = await asyncio.to_thread(seed_device, migrated_url, "Gateway")
    async with running_server(
        Settings(env="test", database_url=migrated_url, log_level="WARNING")
    ) as base:
        summary = await simulate(
            server=base, device_keys=[key], monitors=20, rate_hz=1, duration_s=30, speed=10
        )
    # 30 ticks x (HR, SpO2, RR) + one NIBP trio per monitor at t=0.
    assert summary.readings_sent == 20 * (30 * 3 + 3)
    assert summary.acked == summary.readings_sent
    assert summary.created == summary.readings_sent
    assert (summary.duplicates, summary.conflicts, summary.rejected) == (0, 0, 0)
    stored = await asyncio.to_thread(scalar, migrated_url, "SELECT count(*) FROM vital_reading")
    distinct = await asyncio.to_thread(
        scalar, migrated_url, "SELECT count(DISTINCT source_id) FROM vital_reading"
    )
    assert stored == distinct == summary.readings_sent


@pytest.mark.slow
async def test_unacknowledged_messages_are_sent_again_after_the_server_returns(migrated_url: str):
    key = await asyncio.to_thread(seed_device, migrated_url, "Gateway")
    settings = Settings(env="test", database_url=migrated_url, log_level="WARNING")
    proxy = TcpProxy("127.0.0.1", 0)  # pointed at the server once it is up
    task = asyncio.create_task(
        simulate(
            server=f"http://127.0.0.1:{proxy.port}",
            device_keys=[key],
            monitors=2,
            rate_hz=1,
            duration_s=20,
            speed=10,
        )
    )
    await asyncio.sleep(0.6)  # nothing listens yet: the first messages fail and stay queued
    async with running_server(settings) as base:
        proxy.target = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
        await proxy.start()
        summary = await task
    await proxy.cut()
    assert summary.retries > 0
    assert summary.acked == summary.readings_sent
    assert summary.duplicates == 0
    stored = await asyncio.to_thread(scalar, migrated_url, "SELECT count(*) FROM vital_reading")
    assert stored == summary.readings_sent


def test_ketamine_bp_rise_peaks_near_35_minutes():
    model = SignalModel(Baseline(70, 98, 14, 120, 80), Scenario.NORMAL, 3600, random.Random(1))
    sbp = {minute: model._bp_factor(minute * 60) for minute in (0, 20, 35, 50, 90)}
    assert sbp[35] == max(sbp.values())
    assert 1.10 <= sbp[35] <= 1.20
    assert sbp[0] < 1.02
    assert sbp[90] < 1.02


def test_desaturation_scenario_dips_below_90_for_more_than_15_s():
    model = SignalModel(Baseline(70, 98, 14, 120, 80), Scenario.DESATURATION, 90, random.Random(1))
    low = [t for t in range(90) if model.continuous(t)["spo2"] < 90]
    assert low[0] == 30
    assert len(low) >= 16


def test_same_seed_same_series():
    def series(seed: int) -> list[dict[str, float]]:
        rng = random.Random(seed)
        model = SignalModel(Baseline.draw(rng), Scenario.NORMAL, 60, random.Random(rng.random()))
        return [model.continuous(t) for t in range(10)]

    assert series(7) == series(7)
    assert series(7) != series(8)


@pytest.mark.slow
async def test_websocket_format_stores_every_reading_exactly_once(migrated_url: str):
    key = await asyncio.to_thread(seed_device, migrated_url, "Gateway")
    async with running_server(
        Settings(env="test", database_url=migrated_url, log_level="WARNING")
    ) as base:
        summary = await simulate(
            server=base,
            device_keys=[key],
            monitors=5,
            rate_hz=1,
            duration_s=20,
            speed=10,
            output_format=Format.WS,
        )
    assert summary.readings_sent == 5 * (20 * 3 + 3)
    assert summary.created == summary.acked == summary.readings_sent
    assert not summary.errors
    stored = await asyncio.to_thread(scalar, migrated_url, "SELECT count(*) FROM vital_reading")
    assert stored == summary.readings_sent


def test_cli_simulate_prints_the_summary(migrated_url: str):
    key = seed_device(migrated_url, "Gateway")

    async def go() -> str:
        async with running_server(
            Settings(env="test", database_url=migrated_url, log_level="WARNING")
        ) as base:
            result = await asyncio.to_thread(
                run_cli,
                migrated_url,
                "simulate",
                "--server",
                base,
                "--device-key",
                key,
                "--monitors",
                "2",
                "--duration-s",
                "5",
                "--speed",
                "10",
                "--format",
                "ws",
                "--scenario",
                "desaturation",
            )
        assert result.exit_code == 0, result.output
        return result.output

    output = asyncio.run(go())
    assert "monitors 2, messages 10, readings sent 36, acked 36 (created 36" in output
