"""The bundled demo corpus: real speech under a real face, made offline at first use.

``avprep build demo`` needs no ``--root``: the clips are composed from the
bundled LibriVox recordings and scikit-image's astronaut photo (see
:mod:`avprep.demo`) into ``$AVPREP_HOME/_corpora/demo`` and then read like any
folder of videos with transcripts.
"""

from __future__ import annotations

from collections.abc import Iterator

from avprep.clips import ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, register
from avprep.datasets.folder import discover_folder
from avprep.demo import make_demo_corpus
from avprep.paths import avprep_home


@register
class DemoAdapter(DatasetAdapter):
    name = "demo"
    description = (
        "Six short clips of real speech (LibriVox) under a real face (astronaut), made offline."
    )
    layout = "(made for you) $AVPREP_HOME/_corpora/demo/speaker1/clip00.mp4 + clip00.txt"
    labels = ("speaker", "transcript")
    needs_root = False

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        root = root or str(avprep_home() / "_corpora" / "demo")
        make_demo_corpus(root)
        yield from discover_folder(self.name, root)
