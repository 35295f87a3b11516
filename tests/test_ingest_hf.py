"""Hugging Face `datasets` folders (save_to_disk, DatasetDict, Hub Parquet) read with pyarrow only."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from caption_audit.cli import main
from caption_audit.demo import data_dir
from caption_audit.errors import ConfigError, InputError
from caption_audit.ingest import detect_format, iter_load, load

ROWS = {  # the Image feature stores {"bytes", "path"}; captions from the demo's images 900001-900003
    "img": [{"bytes": b"\x89PNG", "path": "000000900001.png"}, {"bytes": None, "path": "coco/x/000000900002.png"},
            {"bytes": None, "path": "000000900003.png"}],
    "text": ["A dog catches a frisbee in a park.", "A bus on a street.", ""],
}


def save_to_disk(folder, rows=ROWS, split="train", n_files=2):
    """The layout `Dataset.save_to_disk` writes: Arrow IPC stream shards + state.json + dataset_info.json."""
    folder.mkdir(parents=True)
    table = pa.table(rows)
    names = []
    for i in range(n_files):
        name = f"data-{i:05d}-of-{n_files:05d}.arrow"
        part = table.slice(i * len(table) // n_files, (i + 1) * len(table) // n_files - i * len(table) // n_files)
        with pa.OSFile(str(folder / name), "wb") as sink, ipc.new_stream(sink, part.schema) as writer:
            writer.write_table(part, max_chunksize=1)
        names.append(name)
    (folder / "state.json").write_text(json.dumps({
        "_data_files": [{"filename": n} for n in names], "_fingerprint": "0123abcd", "_format_columns": None,
        "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False, "_split": split}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {
        "img": {"_type": "Image"}, "text": {"dtype": "string", "_type": "Value"}}}))
    return folder


def test_save_to_disk_folder_streams_with_column_mapping(tmp_path):
    ds = save_to_disk(tmp_path / "blip_caps")
    assert detect_format(ds) == "hf_dataset"
    caps = list(iter_load(ds, columns="image=img,caption=text"))
    assert [(c.caption_id, c.image_id, c.source, c.text) for c in caps[:2]] == [
        ("blip_caps:0", "900001", "blip_caps", "A dog catches a frisbee in a park."),
        ("blip_caps:1", "900002", "blip_caps", "A bus on a street.")]
    assert caps[2].error == "empty caption" and caps[2].origin.endswith(":row 2")


def test_dataset_dict_picks_the_split(tmp_path):
    root = tmp_path / "dd"
    save_to_disk(root / "train")
    save_to_disk(root / "test", {"image_id": [900004], "caption": ["Two cats."]}, split="test", n_files=1)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    assert detect_format(root) == "hf_dataset"
    assert len(load(root, columns="image=img,caption=text").captions) == 3  # default: train
    test = load(root, split="test", source="m").captions
    assert [(c.image_id, c.text, c.source) for c in test] == [("900004", "Two cats.", "m")]
    with pytest.raises(ConfigError, match="no split 'val'. Splits: train, test"):
        load(root, split="val")


def test_hub_parquet_and_conversations(tmp_path):
    d = tmp_path / "hub" / "data"
    d.mkdir(parents=True)
    pq.write_table(pa.table({"image": ["coco/train2017/000000900005.jpg"], "id": ["a1"], "conversations": [[
        {"from": "human", "value": "Describe."}, {"from": "gpt", "value": "A kitchen with an oven."}]]}),
        d / "train-00000-of-00001.parquet")
    caps = load(tmp_path / "hub", columns={"id": "id"}).captions
    assert [(c.caption_id, c.image_id, c.text) for c in caps] == [("a1", "900005", "A kitchen with an oven.")]


@pytest.mark.parametrize(("state", "message"), [
    ({"_data_files": [{"filename": "../../etc/passwd"}]}, "not a file name in this folder"),
    ({"_data_files": []}, "no '_data_files' list"),
    ({"_data_files": [{"filename": "data-9.arrow"}]}, "listed in state.json but missing"),
])
def test_bad_state_json_is_an_input_error(tmp_path, state, message):
    ds = save_to_disk(tmp_path / "ds")
    (ds / "state.json").write_text(json.dumps(state))
    with pytest.raises(InputError, match=message):
        load(ds)


def test_unknown_column_and_bad_mapping(tmp_path):
    ds = save_to_disk(tmp_path / "ds")
    with pytest.raises(InputError, match="no caption column 'caption_text'"):
        load(ds, columns="image=img,caption=caption_text")
    with pytest.raises(ConfigError, match="ROLE=COLUMN"):
        load(ds, columns="picture=img")


def test_run_on_a_save_to_disk_folder(tmp_path):
    save_to_disk(tmp_path / "blip_caps")
    cfg = tmp_path / "audit.yaml"
    cfg.write_text(f"inputs:\n  - {{path: {data_dir() / 'instances.json'}, role: ground_truth}}\n"
                   f"  - {{path: blip_caps, options: {{columns: 'image=img,caption=text'}}}}\n"
                   "out: run\nbootstrap: 10\nno-parser: true\nquiet: true\n")
    assert main(["run", "--config", str(cfg)]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["sources"]["blip_caps"]["counts"] == {**summary["sources"]["blip_caps"]["counts"],
                                                         "input": 3, "scored": 2}
