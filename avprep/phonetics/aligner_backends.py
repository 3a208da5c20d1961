"""The forced-aligner backends by name, and the factory that makes one.

Kept apart from the interface (:mod:`avprep.phonetics.aligner`), which every backend
imports: with the factory there, the interface imported its own backends (an import
circle). A backend module is imported only when its aligner is made, so naming MFA does
not load pocketsphinx and the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from avprep.phonetics.aligner import PhoneAligner


def _pocketsphinx(options: dict[str, Any]) -> PhoneAligner:
    from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner, PocketSphinxConfig

    return PocketSphinxAligner(PocketSphinxConfig(**options))


def _mfa(options: dict[str, Any]) -> PhoneAligner:
    from avprep.phonetics.mfa_aligner import MfaAligner, MfaConfig

    return MfaAligner(MfaConfig(**options))


# name -> factory of that backend from its config's options; the first is the default
ALIGNERS: dict[str, Callable[[dict[str, Any]], PhoneAligner]] = {
    "pocketsphinx": _pocketsphinx,  # offline, bundled model
    "mfa": _mfa,  # Montreal Forced Aligner, an external ``mfa`` executable
}


def make_aligner(name: str, **options: Any) -> PhoneAligner:
    """The aligner called ``name`` (see ``ALIGNERS``); ``options`` go to its config."""
    try:
        factory = ALIGNERS[name]
    except KeyError:
        known = ", ".join(ALIGNERS)
        raise ValueError(f"unknown aligner {name!r}: choose one of {known}") from None
    return factory(options)
