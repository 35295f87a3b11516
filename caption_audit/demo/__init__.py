"""The bundled demo sample: 14 imaginary images with authored captions, boxes and pictures.

See ``caption_audit/demo/data/README.md``. ``DATA_DIR`` is the folder holding the files.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

__all__ = ["DATA_DIR"]
