from __future__ import annotations

import argparse

import pytest

from detectors.cli_options import add_detector_options, detector_kwargs


def _parse(argv):
    p = argparse.ArgumentParser()
    add_detector_options(p)
    return p.parse_args(argv)


def test_defaults_and_kwargs():
    a = _parse([])
    assert (a.detector, a.device, a.detect_batch_size, a.box_threshold, a.text_threshold) == (
        None, "auto", 8, 0.35, 0.25)  # fmt: skip
    assert detector_kwargs(a) == {"device": "auto", "box_threshold": 0.35, "text_threshold": 0.25}
    a = _parse(["--images", "imgs", "--detector", "owlv2", "--model", "/m", "--device", "cpu",
                "--detect-batch-size", "4", "--cache-dir", "c", "--box-threshold", "0.2"])  # fmt: skip
    assert detector_kwargs(a) == {"device": "cpu", "box_threshold": 0.2, "model": "/m"}
    assert (a.images, a.cache_dir, a.detect_batch_size) == ("imgs", "c", 4)


@pytest.mark.parametrize(
    "argv",
    [["--detect-batch-size", "0"], ["--detect-batch-size", "x"], ["--box-threshold", "2"], ["--device", "tpu"]],
)
def test_bad_values_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit):
        _parse(argv)
    assert "error" in capsys.readouterr().err
