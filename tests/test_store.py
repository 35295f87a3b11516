"""The store owns the run folder: file names, schemas and their version, and all reading."""

from __future__ import annotations

import hashlib

import pytest

from caption_audit.errors import InputError
from caption_audit.store.layout import TABLES, sql_literal, summary_file, table_file
from caption_audit.store.reader import RunFolder
from caption_audit.store.writer import SCHEMA_VERSION, SCHEMAS
from tests._runs import demo_run as _demo_run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return _demo_run(tmp_path_factory)


def _schema_fingerprint() -> str:
    text = ";".join(f"{name}:{SCHEMAS[name]}" for name in TABLES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_schema_version_changes_when_columns_do():
    """Changing a column without bumping SCHEMA_VERSION fails here: bump it, update
    docs/run-folder.md, then update the pinned fingerprint."""
    assert (SCHEMA_VERSION, _schema_fingerprint()) == (4, "d4bfdb26f669a82f")


@pytest.mark.parametrize("name", TABLES)
def test_file_names(tmp_path, name):
    assert table_file(tmp_path, name) == tmp_path / f"{name}.parquet"
    assert summary_file(tmp_path).name == "summary.json"


def test_unknown_table_and_sql_literal(tmp_path):
    with pytest.raises(ValueError, match="unknown table"):
        table_file(tmp_path, "secrets")
    assert sql_literal("/a/it's") == "'/a/it''s'"


def test_run_folder_on_a_real_run(demo_run):
    run = RunFolder(demo_run)
    assert run.schema_version == SCHEMA_VERSION
    assert run.present_tables() == TABLES
    n = len(run.captions(columns=["caption_id"]))
    con = run.connect()
    assert con.execute("select count(*) from captions").fetchone()[0] == n
    assert con.execute(f"select count(*) from {run.sql_table('mentions')}").fetchone()[0] == len(run.mentions())
    caps = run.metric_captions()
    assert caps["image_id"].map(type).eq(str).all() and "n_all_mentions" in caps


def test_missing_or_corrupt_tables_name_the_file(tmp_path, demo_run):
    import shutil

    d = tmp_path / "r"
    shutil.copytree(demo_run, d)
    table_file(d, "mentions").unlink()
    table_file(d, "captions").write_bytes(b"not parquet")
    run = RunFolder(d)
    assert run.present_tables() == tuple(t for t in TABLES if t != "mentions")
    with pytest.raises(InputError, match=r"captions\.parquet: cannot read Parquet"):
        run.captions()
    with pytest.raises(InputError, match=r"mentions\.parquet: missing"):
        run.mentions()
    assert RunFolder(tmp_path, require_summary=False).summary == {}
    with pytest.raises(InputError, match="summary.json is missing"):
        RunFolder(tmp_path)
