"""Errors meant for users: each names the file, the line or record, and the field."""

from __future__ import annotations

import difflib


class CaptionAuditError(Exception):
    """Base class; the CLI prints these without a traceback."""

    exit_code = 2


class InputError(CaptionAuditError):
    """A whole input file cannot be read (missing, not JSON, wrong top-level shape)."""

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field = str(path), line, field
        where = self.path if line is None else f"{self.path}:{line}"
        if field:
            where += f" field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(CaptionAuditError):
    """Bad options or configuration."""


def unknown_name(kind: str, name: str, options: list[str] | tuple[str, ...]) -> ConfigError:
    """A ConfigError for an unknown registry/metric/source name, with suggestions."""
    options = sorted(options)
    close = difflib.get_close_matches(name, options, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"Unknown {kind} '{name}'.{hint} Valid names: {', '.join(options)}.")
