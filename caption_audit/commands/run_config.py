"""``caption-audit run --config audit.yaml``: every ``run`` flag as a YAML key.

Keys are the flag names without ``--`` (``batch-size`` or ``batch_size``), plus ``inputs``: a
list of ``{path, role, format, source, options}``. Flags given on the command line override the
file; list flags (``--captions``, ``--source``, …) add to it. Relative paths in the file are
relative to the file's folder. See docs/run-config.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from caption_audit.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20
INPUT_KEYS = ("path", "role", "format", "source", "options")
ROLES = ("captions", "ground_truth", "both")
#: Keys whose values are paths (resolved against the config file's folder).
PATH_KEYS = {"out", "images", "cache_dir", "coco_captions", "coco_instances", "llava", "sharegpt4v", "captions",
             "objects"}
_INTERNAL = {"help", "config", "func", "run_parser"}


def load_yaml(path: str | Path) -> Any:
    """Read a small YAML file with ``yaml.safe_load`` (at most 1 MiB).

    Raises:
        ConfigError: missing, too big, or not YAML (with the line).
    """
    import yaml

    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read run config: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: run config is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: run config is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in _INTERNAL}


def _value(origin: str, key: str, action: argparse.Action, value: Any, base: Path) -> Any:
    where = f"{origin}: '{key}'"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    many = isinstance(action, argparse._AppendAction)
    items = value if isinstance(value, list) and many else [value]
    out = []
    for v in items:
        if isinstance(v, (dict, list)) or v is None or isinstance(v, bool):
            raise ConfigError(f"{where} must be a {'list of ' if many else ''}scalar value, got {v!r}"[:300])
        if key in PATH_KEYS:
            v = base / Path(str(v)).expanduser()
        elif action.type is not None:
            try:
                v = action.type(v if isinstance(v, str) else str(v))
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: not a valid value: {v!r}"[:300]) from None
        if action.choices is not None and v not in action.choices:
            raise ConfigError(f"{where}: {v!r} is not one of {', '.join(map(str, action.choices))}")
        out.append(str(v) if many and key in PATH_KEYS else v)
    return out if many else out[0]


def _inputs(origin: str, raw: Any, base: Path) -> list[Any]:
    from caption_audit.pipeline import InputSpec

    if not isinstance(raw, list):
        raise ConfigError(f"{origin}: 'inputs' must be a list of {{path, role, format, source, options}}")
    specs = []
    for i, item in enumerate(raw):
        where = f"{origin}: inputs[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a mapping with keys {', '.join(INPUT_KEYS)}")
        bad = [k for k in item if k not in INPUT_KEYS]
        if bad:
            raise ConfigError(f"{where}: unknown key '{bad[0]}'. Valid keys: {', '.join(INPUT_KEYS)}.")
        if not isinstance(item.get("path"), str) or not item["path"]:
            raise ConfigError(f"{where}: 'path' is required (a file or folder)")
        role = item.get("role", "captions")
        if role not in ROLES:
            raise ConfigError(f"{where}: role '{role}' is not one of {', '.join(ROLES)}")
        for k in ("format", "source"):
            if item.get(k) is not None and not isinstance(item[k], str):
                raise ConfigError(f"{where}: '{k}' must be a string")
        options = item.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: 'options' must be a mapping")
        specs.append(InputSpec(str(base / Path(item["path"]).expanduser()), role, item.get("format"),
                               item.get("source"), dict(options)))
    return specs


def apply_run_config(args: argparse.Namespace, parser: argparse.ArgumentParser, path: str | Path) -> None:
    """Fill ``args`` from the YAML file at ``path``: a key sets a flag the command line left at its
    default; list flags are the file's items then the command line's; ``inputs`` go to
    ``args.config_inputs``.

    Raises:
        ConfigError: not a mapping, an unknown key (naming the valid ones), or a bad value.
    """
    raw = load_yaml(path)
    origin = str(path)
    base = Path(path).resolve().parent
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a run config is a mapping of run flags (e.g. out: runs/a)")
    actions = _actions(parser)
    valid = sorted({"inputs", *(a.option_strings[-1].lstrip("-") for a in actions.values())})
    for key, value in raw.items():
        dest = str(key).replace("-", "_")
        if dest == "inputs":
            args.config_inputs = _inputs(origin, value, base)
            continue
        if dest not in actions:
            raise ConfigError(f"{origin}: unknown key '{key}'. Valid keys: {', '.join(valid)}.")
        action = actions[dest]
        v = _value(origin, str(key), action, value, base)
        current = getattr(args, dest, None)
        if isinstance(action, argparse._AppendAction):
            setattr(args, dest, [*v, *(current or [])])
        elif current == parser.get_default(dest):
            setattr(args, dest, v)
