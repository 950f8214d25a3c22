"""Is this a well-formed result of schema version 3? One check for the page, the Deno runtime and the host.

The schema is the JSON Schema file beside this module (`result_schema_v3.json`, draft-07), shipped inside the
app wheel, so the page (Pyodide, importing from the wheel's zip) and the host read the same bytes. The
validator is fastjsonschema (pure Python, no dependencies; pinned in pins.toml for the page), compiled once
per process on first use and never asked to fill in defaults: a result is checked, never changed.

`validate(result)` raises ResultSchemaError naming the first bad field by its path (`rows[1].runs[0].
prefill_start_ms: must be number`); `problems(result)` lists every one. Older documents (schema_version 1
and 2) were written before the schema: `older_problems(doc)` checks them against the shape their loaders
(results.upgrade) and compare need, which is the v3 schema with fewer fields required (`older_schema`): every
field that is there has its v3 type (no booleans for numbers, no negative or fractional counts).
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_FILE = "result_schema_v3.json"  # in this package (app.core)

_compiled: Any = None
_compiled_older: Any = None


class ResultSchemaError(ValueError):
    """A result that does not match the v3 schema; the message names the path of the first bad field."""

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"the result does not match schema v3: {problems[0]}{more}")
        self.problems = problems


def schema() -> dict[str, Any]:
    """The v3 JSON Schema as a dict (read from the package: works from a wheel's zip too)."""
    from importlib import resources

    return json.loads(resources.files("app.core").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _compile(definition: dict[str, Any]) -> Any:
    import fastjsonschema  # type: ignore[import-untyped]

    # use_default=False: a schema "default" must never be written into the result being checked;
    # fast_fail=False: every problem is reported, not only the first.
    return fastjsonschema.compile(definition, use_default=False, use_formats=False, fast_fail=False)


def _validator() -> Any:
    global _compiled
    if _compiled is None:
        _compiled = _compile(schema())
    return _compiled


# What a version 1 or 2 file must hold for results.upgrade and compare to read it: identity and rows, each row's
# engine key and backend, each run's prompt size and raw timestamps. Everything else was added under those
# versions at some point (results.py's history), so it may be absent; where present it has its v3 type.
OLDER_REQUIRED = {
    "": ["schema", "schema_version", "rows"],
    "row": ["key", "backend"],
    "run": ["prompt_tokens", "prefill_start_ms", "prefill_end_ms", "token_times_ms"],
    "settings": [], "model": [], "asset": [], "node": [],
}


def older_schema() -> dict[str, Any]:
    """The shape of a version 1 or 2 result: the v3 schema with only OLDER_REQUIRED required, schema_version 1 or
    2, and a run's stored figures and a row's stored summary free in shape (compare recomputes both from the
    timestamps; the loader fills in what they lack)."""
    older = schema()
    older["title"] = "browser-llm-bench result, schema_version 1 or 2, as its loader reads it"
    older["properties"]["schema_version"] = {"enum": [1, 2]}
    older["required"] = OLDER_REQUIRED[""]
    for name, required in OLDER_REQUIRED.items():
        if name:
            older["definitions"][name]["required"] = required
    older["definitions"]["run"]["properties"]["derived"] = {"type": "object"}
    older["definitions"]["row"]["properties"]["summary"] = {"type": ["object", "null"]}
    return older


def _older_validator() -> Any:
    global _compiled_older
    if _compiled_older is None:
        _compiled_older = _compile(older_schema())
    return _compiled_older


def _where(name: str) -> str:
    """fastjsonschema's 'data.rows[0].runs[1]' -> 'rows[0].runs[1]' (the document itself: 'the result')."""
    path = name.removeprefix("data").removeprefix(".")
    return path or "the result"


def _describe(err: Any) -> list[str]:
    """One line per problem: the path of the field, then what is wrong with it."""
    where = _where(str(err.name))
    if err.rule == "required" and isinstance(err.value, dict):
        missing = [k for k in err.rule_definition if k not in err.value]
        prefix = "" if where == "the result" else where + "."
        return [f"{prefix}{k}: missing (required)" for k in missing]
    message = str(err.message)
    for lead in (str(err.name) + " ", str(err.name)):
        if message.startswith(lead):
            message = message[len(lead):]
            break
    return [f"{where}: {message.strip()}"]


def problems(result: Any) -> list[str]:
    """Every way `result` breaks the v3 schema, one line each naming the field's path; [] when it is valid."""
    return _problems(_validator(), result)


def older_problems(doc: Any) -> list[str]:
    """Every way a version 1 or 2 `doc` breaks the shape its loader reads (older_schema), one line each naming
    the field's path; [] when results.upgrade can read it."""
    return _problems(_older_validator(), doc)


def _problems(validator: Any, result: Any) -> list[str]:
    import fastjsonschema  # type: ignore[import-untyped]

    try:
        validator(result)
    except fastjsonschema.JsonSchemaValuesException as errors:
        return [line for err in errors.errors for line in _describe(err)]
    except fastjsonschema.JsonSchemaValueException as err:
        return _describe(err)
    return []


def validate(result: Any) -> None:
    """Return None when `result` matches the v3 schema; raise ResultSchemaError (a ValueError) otherwise."""
    found = problems(result)
    if found:
        raise ResultSchemaError(found)
