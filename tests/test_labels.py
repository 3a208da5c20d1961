"""Label tables live in avprep.labels: the adapters write with them, the reader reads with
them, and reading shards imports no corpus adapter."""

from __future__ import annotations

import subprocess
import sys

from avprep import labels
from avprep.datasets import cremad


def test_adapters_and_views_share_the_tables():
    assert cremad.EMOTIONS is labels.EMOTIONS and len(labels.EMOTIONS) == 6
    assert cremad.parse_name("1001_DFA_NEU_XX")["emotion_id"] == labels.emotion_id("NEU") == 4
    from models.dvae.view import DvaeConfig

    assert DvaeConfig(default_emotion="SAD")._default_emotion_id == labels.EMOTIONS.index("SAD")


def test_reader_imports_no_corpus_adapter():
    code = (
        "import sys\nimport avprep.reader\n"
        "bad = [m for m in sys.modules if m.startswith('avprep.datasets')]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
