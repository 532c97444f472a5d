"""Validate sandbox (or real) responses against the vendored Intervals.icu OpenAPI document.

Springdoc quirks handled here (see the API reference):

* OpenAPI 3.0 → JSON Schema: ``nullable`` is honoured, and because springdoc never emits it while the real
  API serialises Java nulls, *every* property additionally accepts ``null``.
* Objects accept extra properties (upstream adds custom fields), i.e. ``additionalProperties`` stays open.
* ``oneOf`` is treated as ``anyOf``: the alternatives (Activity / ActivityWithIntervals / Hidden) overlap
  when extra properties are allowed, so strict ``oneOf`` could never pass.
* A bare ``{"type": "object"}`` (a Java ``Object`` or ``Map<String, Object>``, e.g. ``ActivityStream.data``,
  ``workout_doc``) accepts any JSON value: springdoc emits it for fields that really hold arrays/scalars.
* ``format`` is not asserted (int32/float/date-time are informative only).
* Response media type is ``*/*``; the schema is taken from whatever media type is declared.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(x) for x in node]
    if not isinstance(node, dict):
        return node
    if (
        node.get("type") == "object"
        and not {"properties", "$ref", "allOf", "anyOf", "oneOf"} & set(node)
        and (node.get("additionalProperties") in (None, True, {}, {"type": "object"}))
    ):
        return {}  # a Java Object / Map<String, Object>: any JSON value
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str):
            out[k] = v.replace("#/components/schemas/", "#/definitions/")
        elif k == "oneOf":
            out["anyOf"] = _convert(v)
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: _nullable(_convert(sub)) for name, sub in v.items()}
        elif k in (
            "nullable",
            "format",
            "example",
            "discriminator",
            "xml",
            "externalDocs",
            "readOnly",
            "writeOnly",
            "deprecated",
        ):
            continue
        else:
            out[k] = _convert(v)
    if node.get("nullable") is True:
        out = _nullable(out)
    return out


def _nullable(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, Any]:
    schemas = spec()["components"]["schemas"]
    return {name: _convert(s) for name, s in schemas.items()}


def response_schema(method: str, path_template: str, status: int | str = 200) -> dict[str, Any] | None:
    """The JSON Schema (with definitions) for a documented response, or None if it declares no body."""
    paths = spec()["paths"]
    if path_template not in paths:
        raise KeyError(f"Path not in the OpenAPI document: {path_template}")
    op = paths[path_template].get(method.lower())
    if op is None:
        raise KeyError(f"{method.upper()} {path_template} not in the OpenAPI document")
    responses = op["responses"]
    resp = responses.get(str(status)) or responses.get("default")
    if resp is None:
        raise KeyError(f"No {status} response documented for {method.upper()} {path_template}")
    content = resp.get("content") or {}
    if not content:
        return None
    media = next(iter(content.values()))
    schema = media.get("schema")
    if schema is None:
        return None
    out: dict[str, Any] = _convert(copy.deepcopy(schema))
    out["definitions"] = _definitions()
    return out


@functools.lru_cache(maxsize=256)
def _validator(method: str, path_template: str, status: int) -> jsonschema.Draft7Validator | None:
    schema = response_schema(method, path_template, status)
    if schema is None:
        return None
    return jsonschema.Draft7Validator(schema)


def validate_response(method: str, path_template: str, status: int, body: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``body`` does not match the documented response schema."""
    validator = _validator(method.upper(), path_template, int(status))
    if validator is None:
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        raise error


def template_for(path: str, method: str = "GET") -> str | None:
    """Find the OpenAPI path template matching a concrete ``/api/v1/...`` path and method (best effort)."""
    best: tuple[int, str] | None = None
    for tpl, ops in spec()["paths"].items():
        if method.lower() not in ops:
            continue
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]*", re.escape(tpl)) + "$"
        if re.match(rx, path):
            literal = len(re.sub(r"\{[^}]+\}", "", tpl))
            if best is None or literal > best[0]:
                best = (literal, tpl)
    return best[1] if best else None
