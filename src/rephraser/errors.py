"""User-facing errors.

Anything the user can fix (bad config, unreadable file, changed input on resume) is raised as a
`RephraserError`; the CLI prints its one-line message and exits with status 2 instead of a traceback.
Per-record problems are never raised: they become rejected rows with a reason. A problem the run survives (e.g. a request cache that cannot be written) is a warning logged through
`rephraser.logs`, not an exception.
"""


class RephraserError(Exception):
    """A fatal, user-fixable problem, reported as one line. `detail`: lines the CLI adds under it on a
    terminal (a YAML mistake's line with a caret); logs and pipes keep the one line."""

    detail: str | None = None


class ConfigError(RephraserError):
    """The run configuration is invalid or inconsistent."""


class SourceError(RephraserError):
    """An input file cannot be read at all (as opposed to one bad record in it)."""


class StorageError(RephraserError):
    """A path or URL cannot be read, listed or written (missing bucket or object, no access, endpoint down,
    missing optional library); the message names the URL."""


class ResumeError(RephraserError):
    """An output folder cannot be resumed safely (changed config, changed input, duplicate ids)."""


class WriteError(RephraserError, OSError):
    """An output file cannot be written (unwritable folder, a file where a folder should be, ...).
    Also an OSError, so code that handles I/O failures keeps handling it."""


class FailureBudgetExceeded(RephraserError):
    """Too many documents failed; the engine is probably broken, so the run stops."""
