"""The report page: a Jinja2 template (``templates/report.html.j2``) with autoescape on.

Every string from the build (keys, transcripts, speaker names, config values, error texts)
goes through Jinja2's HTML escaping, so a hostile file name cannot inject markup. Numbers
carry a ``data-stat`` attribute with their raw value, which the tests read back.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
import numpy as np

from avprep.phonetics.phoneset import PHONES
from avprep.phonetics.visemes import VISEMES


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "–"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("avprep.report", "templates"),
        autoescape=True,  # every value is escaped unless marked safe; nothing is marked safe
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    env.filters["median"] = lambda values: float(np.median(values))
    env.globals["phone_names"] = PHONES
    env.globals["viseme_names"] = VISEMES
    return env


def render_page(context: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**context)
