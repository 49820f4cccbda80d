"""The server's garbage-collector settings (see app/core/gc_tuning.py for why)."""

from __future__ import annotations

import gc

from app.core.gc_tuning import THRESHOLDS, tune_garbage_collector


def test_start_up_objects_are_frozen_and_collections_are_rarer():
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] > before[0]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
