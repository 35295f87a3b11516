"""thinc operations for the spaCy pipeline: matrix products by numpy instead of blis.

thinc's ``NumpyOps.gemm`` multiplies with blis. On this project's machines (x86-64 with
AVX-512) blis reaches about 33 GFLOP/s on the tok2vec's products, numpy's OpenBLAS about 95 on
one thread, so the tok2vec layers (most of the statistical pass on long captions, issue #15)
take about a third of the time on :class:`~caption_audit.text.matmul_ops.MatmulOps`
(:func:`use_matmul_ops`, applied by ``load_spacy``). Everything else is thinc's ``NumpyOps``;
the parser's transition loop multiplies with blis inside spaCy, untouched.

The products are rounded differently, in the last bits of a float32. Tags, POS, morphology,
dependencies, heads and lemmas were checked equal on 74,821 distinct sentences (every sentence
of the shared COCO and OPERA captions and of 3,000 synthetic long captions, in batches of 256
and of 5); ``tests/test_text_ops.py`` repeats the check on real captions on every test run.

numpy's BLAS runs on every core by default; for these products that is slower than one thread
(20,000 long captions, one process: 27 s wall and 36 CPU-s on two threads against 25 s and
26 CPU-s on one) and it would compete with ``--workers``. The statistical pass therefore runs
inside :func:`one_blas_thread`.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a dependency; without it the products use BLAS's own thread count
        return None
    return ThreadpoolController()


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread inside (about 10 us to enter and leave); numpy's BLAS must be
    loaded before the first call (it is once spaCy is)."""
    controller = _controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


def use_matmul_ops(nlp: Any) -> int:
    """Give every layer of ``nlp``'s models that runs on thinc's ``NumpyOps`` a shared
    :class:`~caption_audit.text.matmul_ops.MatmulOps` instead (other operations, e.g. a GPU's,
    are left alone); returns the number of layers changed."""
    from thinc.api import NumpyOps

    from caption_audit.text.matmul_ops import MatmulOps  # imports thinc: only once spaCy is loaded

    ops = MatmulOps()
    changed = 0
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is None or not hasattr(model, "walk"):
            continue
        for node in model.walk():
            if type(node.ops) is NumpyOps:
                node.ops = ops
                changed += 1
    return changed
