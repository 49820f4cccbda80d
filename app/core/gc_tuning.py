"""Garbage-collector settings for a long-running server (issue 12 benchmark).

With CPython's defaults (a young-generation collection every 700 allocations) the server ran
a full collection of its whole heap every few seconds under load, and each one stopped the
event loop for 100-150 ms: the p99 of reading-to-board latency at 100 monitors was 124 ms with
them and 37 ms without. Objects alive after start-up (modules, protocol definitions, the
ORM's mappings) are frozen out of every later collection, and collections run much less
often; memory stays bounded because almost all per-message garbage is freed by reference
counting, not by the collector.
"""

from __future__ import annotations

import gc

# Young-generation threshold (allocations minus deallocations), then how many young and
# middle collections trigger the next older one.
THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
