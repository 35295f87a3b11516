"""``MatmulOps``: thinc's ``NumpyOps`` with ``gemm`` by ``numpy.matmul`` (see :mod:`caption_audit.text.ops`).

A module of its own, imported only once spaCy is loaded: it imports thinc at the top, and a
module-level class keeps a pipeline that uses it picklable.
"""

from __future__ import annotations

from typing import Any

import numpy
from thinc.api import NumpyOps


class MatmulOps(NumpyOps):
    """``NumpyOps`` with ``gemm`` by ``numpy.matmul``."""

    name = "caption_audit_matmul"

    def gemm(self, x: Any, y: Any, out: Any = None, trans1: bool = False, trans2: bool = False) -> Any:
        if trans1:
            x = x.T
        if trans2:
            y = y.T
        if out is None:
            return numpy.ascontiguousarray(numpy.matmul(x, y))
        numpy.matmul(x, y, out=out)
        return out
