"""Is this a well-formed result of schema version 3? One check for the page, the Deno runtime and the host.

The schema is the JSON Schema file beside this module (`result_schema_v3.json`, draft-07), shipped inside the
app wheel, so the page (Pyodide, importing from the wheel's zip) and the host read the same bytes. The
validator is fastjsonschema (pure Python, no dependencies; pinned in pins.toml for the page), compiled once
per process on first use and never asked to fill in defaults: a result is checked, never changed.

`validate(result)` raises ResultSchemaError naming the first bad field by its path (`rows[1].runs[0].
prefill_start_ms: must be number`); `problems(result)` lists every one. Older documents (schema_version 1
and 2) have no schema: read them through `results.upgrade` first.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_FILE = "result_schema_v3.json"  # in this package (app.core)

_compiled: Any = None


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


def _validator() -> Any:
    global _compiled
    if _compiled is None:
        import fastjsonschema  # type: ignore[import-untyped]

        # use_default=False: a schema "default" must never be written into the result being checked;
        # fast_fail=False: every problem is reported, not only the first.
        _compiled = fastjsonschema.compile(schema(), use_default=False, use_formats=False, fast_fail=False)
    return _compiled


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
    import fastjsonschema  # type: ignore[import-untyped]

    validator = _validator()
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
