"""The project's exception types, in one place.

Every error a user can cause ends up as one of these, with a one-line message that names the file, row or field;
the CLI prints that line and exits non-zero.
"""

from __future__ import annotations


class StratlabError(Exception):
    """Base of every error stratlab raises on purpose."""


class DataError(StratlabError):
    """Market data that is missing, unreadable or breaks the data contract."""


class ConfigError(StratlabError):
    """A setting, parameter or command-line value that is not valid."""


class DownloadError(StratlabError):
    """A remote source that failed for good (after retries) or answered something we cannot use."""


__all__ = ["ConfigError", "DataError", "DownloadError", "StratlabError"]
