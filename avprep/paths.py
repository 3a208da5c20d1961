"""Where builds live by default: ``$AVPREP_HOME/<dataset>`` (``~/.avprep/datasets``).

Later commands (``select-samples voxceleb``, ``train davs``) find a build by the
dataset's name through :func:`default_build_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path


def avprep_home() -> Path:
    return Path(os.environ.get("AVPREP_HOME", "~/.avprep/datasets")).expanduser()


def default_build_dir(dataset: str) -> str:
    return str(avprep_home() / dataset)
