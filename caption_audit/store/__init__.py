"""The run folder: writing it (``writer``) and reading it (``RunFolder``)."""

from caption_audit.store.reader import RunFolder, read_summary

__all__ = ["RunFolder", "read_summary"]
