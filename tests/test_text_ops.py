"""The spaCy pipeline with numpy's matrix products and the look-up attribute ruler
(``load_spacy()``) annotates exactly as spaCy's own (``load_spacy(fast=False)``): tags, POS,
morphology, dependencies, heads, lemmas and sentence starts, on the project's labelled captions
and on real COCO and OPERA captions, parsed in batches and one at a time."""

from __future__ import annotations

import numpy
import pytest

from caption_audit.text.matmul_ops import MatmulOps
from caption_audit.text.nlp import load_spacy
from caption_audit.text.ops import one_blas_thread, use_matmul_ops
from tests.conftest import local_captions, real_captions


@pytest.fixture(scope="module")
def pipelines():
    return load_spacy(), load_spacy(fast=False)


def _annotations(doc):
    return [(t.text, t.tag_, t.pos_, str(t.morph), t.dep_, t.head.i, t.lemma_, t.is_sent_start) for t in doc]


def _assert_same(pipelines, texts, batch_size):
    fast, exact = pipelines
    n = 0
    with one_blas_thread():
        pairs = zip(fast.pipe(texts, batch_size=batch_size), exact.pipe(texts, batch_size=256), strict=True)
        for a, b in pairs:
            assert _annotations(a) == _annotations(b), a.text
            n += len(a)
    return n


@pytest.mark.parametrize("batch_size", [1, 256])
def test_labelled_captions_annotated_as_spacy(pipelines, batch_size):
    assert _assert_same(pipelines, local_captions(), batch_size) > 10_000


def test_real_captions_annotated_as_spacy(pipelines):
    assert _assert_same(pipelines, real_captions(25, 500), 64) > 25_000


def test_models_use_matmul_ops(pipelines):
    fast, exact = pipelines
    cls = MatmulOps
    for name in ("tok2vec", "tagger", "parser"):
        assert all(isinstance(node.ops, cls) for node in fast.get_pipe(name).model.walk()), name
        assert not any(isinstance(node.ops, cls) for node in exact.get_pipe(name).model.walk()), name


def test_other_ops_left_alone():
    import spacy
    from thinc.api import NumpyOps, Ops

    nlp = spacy.blank("en")
    nlp.add_pipe("tagger")
    other = Ops()
    nodes = list(nlp.get_pipe("tagger").model.walk())
    nodes[0].ops = other
    changed = use_matmul_ops(nlp)
    assert changed == len(nodes) - 1
    assert nodes[0].ops is other
    assert all(isinstance(n.ops, MatmulOps) and isinstance(n.ops, NumpyOps) for n in nodes[1:])


@pytest.mark.parametrize("trans1,trans2", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_is_a_matrix_product(trans1, trans2):
    from thinc.api import NumpyOps

    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((7, 5) if not trans1 else (5, 7)).astype("float32")
    y = rng.standard_normal((5, 3) if not trans2 else (3, 5)).astype("float32")
    ops, ref = MatmulOps(), NumpyOps()
    got = ops.gemm(x, y, trans1=trans1, trans2=trans2)
    assert got.dtype == numpy.float32 and got.flags.c_contiguous
    numpy.testing.assert_allclose(got, ref.gemm(x, y, trans1=trans1, trans2=trans2), rtol=1e-5, atol=1e-5)
    out = numpy.zeros((7, 3), dtype="float32")
    assert ops.gemm(x, y, out=out, trans1=trans1, trans2=trans2) is out
    numpy.testing.assert_allclose(out, got)


def test_one_blas_thread():
    """numpy's BLAS (the one ``MatmulOps`` multiplies with; loaded by the time spaCy is) runs
    on one thread inside, on as many as before after."""
    pytest.importorskip("threadpoolctl")
    from caption_audit.text.ops import _controller

    controller = _controller()
    numpy_blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
    if not numpy_blas:
        pytest.skip("numpy's BLAS is not visible to threadpoolctl")
    before = [lib.num_threads for lib in numpy_blas]
    with one_blas_thread():
        assert [lib.num_threads for lib in numpy_blas] == [1] * len(numpy_blas)
    assert [lib.num_threads for lib in numpy_blas] == before


def test_pipeline_still_pickles(pipelines):
    """A pipeline with both swaps pickles (module-level ops class, ruler tests as plain objects)
    and the copy annotates as the original, new words included."""
    import pickle

    from caption_audit.text.ruler import RulerMatch

    fast, _ = pipelines
    copy = pickle.loads(pickle.dumps(fast))
    assert isinstance(copy.get_pipe("attribute_ruler").match, RulerMatch)
    assert isinstance(copy.get_pipe("tok2vec").model.ops, MatmulOps)
    texts = local_captions()[:40] + ["Zxqvbn flurbs the glorptastic orange; they're not gonna stop."]
    for a, b in zip(fast.pipe(texts), copy.pipe(texts), strict=True):
        assert _annotations(a) == _annotations(b)
