"""The cyclic collector, tuned for a worker that holds a whole election.

CPython runs its youngest collection every 700 net allocations, and each one also walks the
survivors of the one before: a worker allocates a tuple or two per event, so at 100,000
stations the collector took about a third of the worker's time end to end (load/RESULTS.md,
"Scale"). The tally's state is tuples, ints and strings and dicts of them; reference
counting frees what it no longer holds at once, whatever the collector does. So a worker:

- collects young objects every ``TABMON_GC_YOUNG`` net allocations (:func:`tune`);
- once its registry is loaded, moves everything alive (the registry, the libraries) to the
  collector's permanent generation, which no collection walks again (:func:`settle`).

Cycles are still collected, less often. ``TABMON_GC_YOUNG=0`` leaves CPython's collector as
it is.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("tabmon.worker")

OLDER = (20, 10)  # generation 1 every 20 young collections, generation 2 every 10 of those


def tune(young: int) -> None:
    """A young collection every ``young`` net allocations; 0 keeps CPython's thresholds."""
    if young > 0:
        gc.set_threshold(young, *OLDER)


def settle(young: int) -> None:
    """Collect once, then freeze what survives (unless ``young`` is 0, CPython's collector)."""
    if young > 0:
        gc.collect()
        gc.freeze()
        log.info("heap settled: %d objects the collector will not visit again", gc.get_freeze_count())
