"""The run folder: writing it (``writer``) and reading it (``RunFolder``).

The only package that knows the run folder's file names (``layout``) and table schemas
(``writer.SCHEMAS``, ``writer.SCHEMA_VERSION``).
"""

from caption_audit.store.reader import RunFolder, read_summary

__all__ = ["RunFolder", "read_summary"]
