"""caption_audit.yamldata: the packaged YAML files read the same with libyaml's parser as with
PyYAML's pure-Python one (values and types), the loader is libyaml's where PyYAML has it, and it
stays a safe loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import caption_audit
from caption_audit.yamldata import LOADER, load_yaml

PACKAGE = Path(caption_audit.__file__).parent
PACKAGED = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.yaml"))


def _typed(value):
    """``value`` with every scalar paired with its type: 1 == 1.0 == True would hide a change."""
    if isinstance(value, dict):
        return {_typed(k): _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def test_every_packaged_yaml_file_is_listed():
    assert {"text/vocab/claims.yaml", "text/vocab/coco80.yaml", "quality/quality.yaml",
            "scoring/resolvers/counts.yaml", "semantic/data/hypernyms.yaml"} <= set(PACKAGED)


@pytest.mark.parametrize("name", PACKAGED)
def test_c_parser_reads_packaged_file_like_pure_python(name):
    raw = (PACKAGE / name).read_bytes()
    fast = load_yaml(raw)
    assert fast, f"{name} parsed to nothing"
    assert _typed(fast) == _typed(yaml.load(raw, Loader=yaml.SafeLoader))  # noqa: S506 - safe loader


def test_uses_libyaml_when_pyyaml_has_it():
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("this PyYAML was built without libyaml: the pure-Python loader is the fallback")
    assert LOADER is yaml.CSafeLoader


def test_stays_safe():
    # a safe loader: no Python objects from tags
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("!!python/object/apply:os.system ['true']")
    assert load_yaml(b"a: [1, 2.5, yes, null]") == {"a": [1, 2.5, True, None]}
