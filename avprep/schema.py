"""Versioned schemas for shard samples and the manifest (files in ``schemas/``).

Samples are validated when written and when read, so a shard from another
version, or one missing a field a later stage expects, fails with a message
that names the field instead of a KeyError deep inside training.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa

SAMPLE_SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A sample or manifest that does not match its schema."""


def _schema_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "schemas"
    if here.is_dir():
        return here
    return Path(str(resources.files("schemas")))


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((_schema_dir() / f"{name}.json").read_text())


@cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(name))


def validate_sample_meta(meta: dict[str, Any]) -> None:
    version = meta.get("schema_version")
    if version != SAMPLE_SCHEMA_VERSION:
        raise SchemaError(
            f"sample {meta.get('key')!r} has schema_version {version!r}; this avprep reads "
            f"version {SAMPLE_SCHEMA_VERSION}: rebuild the shards with this avprep version"
        )
    errors = sorted(_validator("sample.v1").iter_errors(meta), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "(top level)"
        raise SchemaError(f"sample {meta.get('key')!r}: field {where}: {e.message}")


MANIFEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("kind", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("shard", pa.string()),
        ("source", pa.string()),
        ("speaker", pa.string()),
        ("transcript", pa.string()),
        ("n_frames", pa.int32()),
        ("duration", pa.float64()),
        ("labels", pa.string()),
        ("word", pa.string()),
        ("word_id", pa.int32()),
        ("emotion", pa.string()),
        ("person_id", pa.int32()),
        ("n_faces", pa.int32()),
        ("good_run_start", pa.int32()),
        ("good_run_length", pa.int32()),
        ("phone_hist", pa.list_(pa.int32())),
        ("label_source", pa.string()),
        ("label_confidence", pa.float64()),
    ]
)


def manifest_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> a table with exactly the manifest columns (missing ones null).

    The column list is checked against ``schemas/manifest.v1.json`` so the two
    cannot drift apart.
    """
    declared = set(load_schema("manifest.v1")["properties"])
    if declared != set(MANIFEST_SCHEMA.names):
        raise SchemaError(f"manifest schema drift: {declared ^ set(MANIFEST_SCHEMA.names)}")
    unknown = {k for r in rows for k in r} - declared
    if unknown:
        raise SchemaError(f"manifest rows carry undeclared columns: {sorted(unknown)}")
    cols = {name: [r.get(name) for r in rows] for name in MANIFEST_SCHEMA.names}
    return pa.table(cols, schema=MANIFEST_SCHEMA)
