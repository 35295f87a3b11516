"""The README's folder table matches the code: every folder exists, and each layer rule it
states is an import-linter contract in pyproject.toml (and the reverse)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def _rows() -> dict[str, str]:
    start = README.index("| folder | what it does | may import")
    rows = {}
    for line in README[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for folder in re.findall(r"`([\w/]+)/`", cells[0]):
            rows[folder] = cells[-1]
    return rows


def test_every_folder_in_the_table_exists():
    rows = _rows()
    assert len(rows) >= 9
    for folder in rows:
        assert (REPO / folder).is_dir(), folder


def test_layer_rules_in_the_readme_are_the_contracts():
    rows = _rows()
    for c in CONTRACTS:
        for src in c["source_modules"]:
            rule = rows[src.replace(".", "/")]
            for forbidden in c["forbidden_modules"]:
                short = forbidden.removeprefix("caption_audit.")
                assert f"`{forbidden}`" in rule or f"`{short}`" in rule, (src, forbidden, rule)
    stated = {f for f, rule in rows.items() if rule.startswith("no ")}
    assert stated == {s.replace(".", "/") for c in CONTRACTS for s in c["source_modules"]}
