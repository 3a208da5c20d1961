"""Finding a user-supplied weights file (SyncNet, Inception): avprep never downloads weights."""

from __future__ import annotations

import os
from pathlib import Path


def find_weights_file(
    explicit: str | None, env_var: str, file_name: str, missing_message: str, what: str
) -> Path:
    """``explicit``, else ``$env_var``; a clear error naming ``file_name`` when neither is
    given (``missing_message``) or the path is not a file."""
    given = explicit or os.environ.get(env_var)
    if not given:
        raise FileNotFoundError(missing_message)
    p = Path(given)
    if not p.is_file():
        raise FileNotFoundError(f"{what} weights {file_name} not found at {p}")
    return p
