"""The corpus of Intervals.icu response shapes taken from public recordings (tests/fixtures/intervals_corpus).

Pure: no Django, no network. `load(name)` reads one payload, `names()` lists them, `manifest()` reads the
provenance table in the corpus README, and `shapes()` summarises, per endpoint, every field path seen with
its JSON types, so an imitation (the sandbox) can be checked against what the real API sends.

    python -m tests.corpus list      # the payloads and their endpoints
    python -m tests.corpus shapes    # regenerate SHAPES.md (prints it; --write to rewrite the file)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent / "fixtures" / "intervals_corpus"
README = CORPUS_DIR / "README.md"
SHAPES = CORPUS_DIR / "SHAPES.md"

# Object keys that are ids rather than field names (e.g. the `activities` map of a curve set), collapsed
# into one `{id}` path so the summary lists the shape of the values once.
_ID_KEY = re.compile(r"^i?\d+$")
# String formats worth telling apart: the API mixes bare dates, local date-times and zoned timestamps.
_FORMATS = (
    ("date", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    ("local-date-time", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")),
    ("date-time", re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")),
)
# Deep enough for workout_doc.steps[].steps[].power.units; anything deeper is summarised as its type.
_MAX_DEPTH = 6


@dataclass(frozen=True)
class Entry:
    """One row of the README provenance table."""

    file: str
    endpoint: str
    case: str
    fields: str  # "full …" (every key the source returned) or "subset …" (the source kept only some keys)
    source: str

    @property
    def coverage(self) -> str:
        """`full` or `subset`: the first word of the fields cell."""
        return self.fields.split()[0] if self.fields else ""


def names() -> list[str]:
    """Every payload in the corpus, by file stem, sorted."""
    return sorted(p.stem for p in CORPUS_DIR.glob("*.json"))


def load(name: str) -> Any:
    """The parsed payload `name` (a file stem; `.json` may be given)."""
    stem = name.removesuffix(".json")
    if stem not in names():
        raise KeyError(f"no corpus payload named {stem!r}")
    return json.loads((CORPUS_DIR / f"{stem}.json").read_text(encoding="utf-8"))


def manifest() -> dict[str, Entry]:
    """The README table rows, by file stem. Rows look like `| file.json | endpoint | case | fields | source |`."""
    entries: dict[str, Entry] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].strip("`").endswith(".json"):
            continue
        file = cells[0].strip("`")
        entries[file.removesuffix(".json")] = Entry(file, cells[1].strip("`"), cells[2], cells[3], cells[4])
    return entries


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (bool before int: bool is an int in Python)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_type(value: Any) -> str:
    """`json_type`, with strings that are dates or timestamps named by format (`string<date-time>`)."""
    kind = json_type(value)
    if kind == "string":
        for name, pattern in _FORMATS:
            if pattern.match(value):
                return f"string<{name}>"
    return kind


@dataclass
class _Field:
    types: set[str]
    present: int = 0


class _Shape:
    """Field paths of a set of payloads: the types seen at each path, and in how many parent objects it appears."""

    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}
        self.parents: dict[str, int] = {}

    def add(self, value: Any, path: str = "", depth: int = 0) -> None:
        if isinstance(value, list):
            for item in value:
                self._visit(item, f"{path}[]", depth)
        elif isinstance(value, dict):
            self._object(value, path, depth)

    def _visit(self, value: Any, path: str, depth: int) -> None:
        self.fields.setdefault(path, _Field(set())).types.add(shape_type(value))
        if depth >= _MAX_DEPTH:
            return
        if isinstance(value, dict):
            self._object(value, path, depth + 1)
        elif isinstance(value, list):
            for item in value:
                self._visit(item, f"{path}[]", depth + 1)

    def _object(self, obj: dict[str, Any], path: str, depth: int) -> None:
        prefix = f"{path}." if path else ""
        if obj and all(_ID_KEY.match(k) for k in obj):
            for item in obj.values():
                self._visit(item, f"{prefix}{{id}}", depth)
            return
        self.parents[path] = self.parents.get(path, 0) + 1
        for key, item in obj.items():
            child = f"{prefix}{key}"
            self.fields.setdefault(child, _Field(set())).present += 1
            self._visit(item, child, depth)

    def lines(self) -> list[str]:
        out = []
        for path, field in self.fields.items():
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            parent_count = self.parents.get(parent, 0)
            types = " | ".join(sorted(field.types))
            absent = ""
            if path.rsplit(".", 1)[-1][-2:] != "[]" and parent_count and field.present < parent_count:
                absent = f" (absent in {parent_count - field.present} of {parent_count})"
            out.append(f"- `{path}`: {types}{absent}")
        return out


def shapes() -> str:
    """SHAPES.md: per endpoint and field coverage, every field path seen across the corpus with its JSON types."""
    groups: dict[tuple[str, str], list[str]] = {}
    for stem, entry in sorted(manifest().items()):
        groups.setdefault((entry.endpoint, entry.coverage), []).append(stem)
    out = [
        "# Shapes seen in the corpus",
        "",
        "Generated by `python -m tests.corpus shapes --write` from the payloads listed in README.md; do not edit.",
        "One section per endpoint (and per field coverage: `full` payloads carry every key the source returned,",
        "`subset` ones only the keys the source kept). A path is `field`, `field.sub`, `list[]` for list items,",
        "`{id}` for id-keyed maps. Types are JSON types; `(absent in k of n)` counts objects at that level",
        "that lacked the key. A faithful imitation produces these keys with these types, nulls included.",
        "`integer` and `number` are kept apart as written in the recording, but JavaScript-recorded sources print",
        "70.0 as 70, so for measured quantities (weights, distances, temperatures) read them as one numeric type.",
        "",
    ]
    for (endpoint, fields), stems in sorted(groups.items()):
        shape = _Shape()
        for stem in stems:
            shape.add(load(stem))
        out.append(f"## {endpoint} ({fields})")
        out.append("")
        out.append("Files: " + ", ".join(f"`{s}.json`" for s in stems))
        out.append("")
        out.extend(shape.lines())
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "list"
    if command == "list":
        table = manifest()
        for stem in names():
            entry = table.get(stem)
            print(f"{stem}: {entry.endpoint if entry else '(no provenance line)'}")
        return 0
    if command == "shapes":
        text = shapes()
        if "--write" in argv[1:]:
            SHAPES.write_text(text, encoding="utf-8")
        else:
            print(text)
        return 0
    print("usage: python -m tests.corpus [list | shapes [--write]]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
