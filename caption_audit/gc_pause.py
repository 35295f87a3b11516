"""One switch for the cyclic garbage collector around allocation-heavy work."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a block allocates many small acyclic objects
    (a batch of parses or quality checks, ground truth being read and built): the collections
    they would trigger scan everything the process already holds (spaCy's heap, the ground
    truth) and cost about a third of such a block. Restored on leaving."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
