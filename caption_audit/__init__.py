"""caption-audit: object hallucination and coverage of image captions, source by source.

Importing this package is cheap: spaCy, torch, transformers, sentence-transformers and ray
are imported only by the stages that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
