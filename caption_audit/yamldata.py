"""The project's own YAML data files (vocabulary, claim rules, quality settings, count rules,
semantic groups), parsed with libyaml's C parser where PyYAML was built with it.

``CSafeLoader`` is ``SafeLoader``'s constructor over libyaml's scanner and parser: the same
Python values, about ten times faster to parse. Every run reads these files at start-up; the
pure-Python parser cost about 0.12 G instructions of it, 2-3% of a 5-caption run (issue #15,
``benchmarks/instructions.py``; the vocabulary files were already read this way). Files a user
passes in (a gate config, a run config) keep their own loaders, which bound what they accept.
``tests/test_yamldata.py`` checks that both parsers give equal values for every packaged file.
"""

from __future__ import annotations

from typing import Any

import yaml

#: libyaml's safe loader when PyYAML has it, else the pure-Python one (same values)
LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(raw: bytes | str) -> Any:
    """``yaml.safe_load(raw)``, with the C parser where available."""
    return yaml.load(raw, Loader=LOADER)  # noqa: S506 - a safe loader (SafeLoader's constructor)
