from __future__ import annotations

import argparse

import pytest

from detectors.base import get_detector
from detectors.cli_options import add_detector_options, detector_kwargs
from tests._detectors_support import tiny_model


def _parse(argv):
    p = argparse.ArgumentParser()
    add_detector_options(p)
    return p.parse_args(argv)


def test_defaults_and_kwargs():
    a = _parse([])
    assert (a.detector, a.device, a.detect_batch_size, a.box_threshold, a.text_threshold) == (
        None, "auto", 8, None, None)  # fmt: skip
    assert detector_kwargs(a) == {"device": "auto"}  # the backend keeps its own thresholds
    a = _parse(["--images", "imgs", "--detector", "owlv2", "--model", "/m", "--device", "cpu",
                "--detect-batch-size", "4", "--cache-dir", "c", "--box-threshold", "0.2"])  # fmt: skip
    assert detector_kwargs(a) == {"device": "cpu", "box_threshold": 0.2, "model": "/m"}
    assert (a.images, a.cache_dir, a.detect_batch_size) == ("imgs", "c", 4)


@pytest.mark.parametrize(
    "backend, argv, box, text",
    [
        ("owlv2", [], 0.1, None),  # the bug: the CLI's 0.35 used to override OWLv2's own 0.1
        ("grounding-dino", [], 0.35, 0.25),
        ("owlv2", ["--box-threshold", "0.2"], 0.2, None),  # an explicit flag wins
        ("grounding-dino", ["--box-threshold", "0.5", "--text-threshold", "0.3"], 0.5, 0.3),
    ],
)
def test_built_detector_gets_backend_default_unless_flag_given(backend, argv, box, text, tmp_path_factory):
    """The thresholds the detector actually runs with, built through the CLI path on a tiny model."""
    a = _parse(["--detector", backend, "--device", "cpu", "--model", str(tiny_model(backend, tmp_path_factory)), *argv])
    det = get_detector(a.detector, **detector_kwargs(a))
    assert det.box_threshold == box
    assert getattr(det, "text_threshold", None) == text


@pytest.mark.parametrize(
    "argv",
    [["--detect-batch-size", "0"], ["--detect-batch-size", "x"], ["--box-threshold", "2"], ["--device", "tpu"]],
)
def test_bad_values_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit):
        _parse(argv)
    assert "error" in capsys.readouterr().err
