"""Shared Hugging Face plumbing: offline model resolution, clear errors, device and precision."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_HASHED = (".json", ".txt", ".safetensors", ".bin", ".model")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_cache_dir() -> str | None:
    """``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, read now (not at import); None = hub default."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None


def dir_revision(path: Path) -> str:
    """Content hash of a saved model directory (config, processor, tokenizer and weights)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(_HASHED)):
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return "sha256:" + h.hexdigest()[:16]


def missing_model_error(model: str, cause: BaseException | None, hub_id: str) -> ConfigError:
    if model.count("/") == 1 and not Path(model).expanduser().exists():
        hub_id = model  # name what the user asked for
    first = str(cause).splitlines()[0].split(". ")[0] if cause else ""
    why = f" ({type(cause).__name__}: {first[:160]})" if cause else ""
    return ConfigError(
        f"Cannot load detector model '{model}'{why}. "
        f"It is neither a local directory nor in the Hugging Face cache"
        f"{' (HF_HUB_OFFLINE=1, so nothing is downloaded)' if hub_offline() else ''}. "
        f"On a machine with internet run `huggingface-cli download {hub_id}` "
        f"(it lands in the HF cache: $HF_HOME/hub, default ~/.cache/huggingface/hub; copy that "
        f"folder here or set HF_HOME to it), or save the model with "
        f"`Model.from_pretrained('{hub_id}').save_pretrained(DIR)` plus the processor, "
        f"and pass `--model DIR`."
    )


def resolve_model(model: str, revision: str | None, default_hub_id: str) -> tuple[str, dict[str, Any], str]:
    """Return ``(path_or_id, from_pretrained kwargs, revision string)``.

    A local directory is used as is (revision = content hash). A hub id is looked up in the
    local HF cache only when offline; online, ``from_pretrained`` may download it.

    Raises:
        ConfigError: a path that does not exist, or a hub id that cannot be resolved offline.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"--model {model}: directory has no config.json (expected a save_pretrained folder)")
        return str(path), {}, dir_revision(path)
    if model.startswith((".", "/", "~")) or os.sep in model and model.count("/") != 1:
        raise ConfigError(f"--model {model}: no such directory")
    kwargs: dict[str, Any] = {"revision": revision} if revision else {}
    if hub_offline():
        kwargs["local_files_only"] = True
    try:
        from huggingface_hub import snapshot_download

        snap = snapshot_download(
            model, revision=revision, local_files_only=hub_offline(), cache_dir=hub_cache_dir()
        )
    except Exception as exc:  # noqa: BLE001 - any hub failure means "not available here"
        raise missing_model_error(model, exc, default_hub_id) from exc
    return snap, {}, Path(snap).name


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if device not in {"auto", "cpu", "cuda"} and not device.startswith("cuda:"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got '{device}'")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but torch sees no CUDA GPU (use --device cpu)")
    return device


def autocast_for(device: str, precision: str) -> tuple[contextlib.AbstractContextManager, str]:
    """``torch.autocast`` in bf16 (fp16 where bf16 is unsupported) on CUDA; fp32 on CPU."""
    import torch

    if not device.startswith("cuda") or precision == "float32":
        return contextlib.nullcontext(), "float32"
    if precision == "auto":
        precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(precision)
    if dtype is None:
        raise ConfigError(f"precision must be auto, float32, bfloat16 or float16, got '{precision}'")
    return torch.autocast("cuda", dtype=dtype), precision
