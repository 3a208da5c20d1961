"""Each method's view lives in its package and stays light: importing the three view modules
(what every DataLoader worker unpickles) loads no torch, no corpus adapter, and neither PyAV,
OpenCV nor dlib (the reader imports a decoder only when it decodes a stream of that format)."""

from __future__ import annotations

import ast
import subprocess
import sys

VIEW_MODULES = ("models.davs.view", "models.cran.view", "models.dvae.view")


def _loaded_after(imports: str, prefixes: tuple[str, ...]) -> list[str]:
    code = (
        f"import sys\n{imports}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r}"
        f" or m.startswith('avprep.datasets')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return ast.literal_eval(proc.stdout.strip())


def test_view_modules_import_without_torch():
    for module in VIEW_MODULES:
        assert _loaded_after(f"import {module}", ("torch",)) == [], module


def test_reader_and_views_import_no_adapter_nor_decoder():
    imports = "import avprep.reader\n" + "\n".join(f"import {m}" for m in VIEW_MODULES)
    assert _loaded_after(imports, ("torch", "av", "cv2", "dlib", "apache_beam")) == []


def test_view_names_resolve_to_the_method_packages():
    from models import methods
    from models.cran.view import CranView
    from models.davs.view import DavsIdentityView, DavsTrainView
    from models.dvae.view import DvaeFaces, DvaeSegments

    assert methods.view_class("davs") is DavsTrainView
    assert methods.view_class("davs_identity") is DavsIdentityView
    assert methods.view_class("cran") is CranView
    assert methods.view_class("dvae_segments") is DvaeSegments
    assert methods.view_class("dvae_faces") is DvaeFaces
    assert {"davs", "davs_identity", "cran", "dvae_segments", "dvae_faces"} <= set(
        methods.view_names()
    )
