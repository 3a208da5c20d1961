"""The aligner names the CLI offers are the aligner registry's."""

from __future__ import annotations

import pytest

from avprep.cli import main
from avprep.phonetics.aligner_backends import ALIGNERS, make_aligner


def _aligner_choices(command) -> list[str]:
    return list(next(p.type.choices for p in command.params if p.name == "aligner"))


def test_cli_aligner_choices_are_the_registry():
    """The CLI spells the names (importing the backends would slow every command); this keeps
    them equal to ``ALIGNERS``."""
    assert _aligner_choices(main.commands["build"]) == ["none", *ALIGNERS]
    assert _aligner_choices(main.commands["align"]) == list(ALIGNERS)


def test_unknown_aligner_lists_the_registry():
    with pytest.raises(ValueError, match="choose one of pocketsphinx, mfa"):
        make_aligner("sphinx4")
