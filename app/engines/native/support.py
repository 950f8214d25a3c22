"""The native engine's pure helpers: how the binding is installed, how many threads a variant runs, and the words
of a binding that is missing (host and tests; imports nothing of the browser or the host)."""

from __future__ import annotations

import os

BINDING = "llama-cpp-python"
BINDING_VERSION = "0.3.36"  # the pins.toml host-tool pin of the same name: its sdist is what the wheel is built from
INSTALL = "python -m app.engines.native.host.wheel"  # builds (once, cached) and installs the binding's wheel
INSTALL_EXTRA = "pip install -e '.[native]'"  # the same binding compiled by pip itself, without the cache


def missing_binding(error: BaseException | str) -> str:
    """The `unsupported` reason of a native row when `import llama_cpp` fails: what to run, and why it failed."""
    return (f"the llama.cpp binding ({BINDING} {BINDING_VERSION}) is not installed here: run `{INSTALL}` "
            f"(or `{INSTALL_EXTRA}`); import llama_cpp said: {error}")


def wrong_version(found: str) -> str:
    """The `unsupported` reason of a native row whose binding is another version than the pinned one."""
    return (f"{BINDING} {found} is installed, not the pinned {BINDING_VERSION}: run `{INSTALL}` to install the pinned "
            "build (its llama.cpp is the one this benchmark records)")


def cores() -> int:
    """The CPU cores this process may run on (its affinity mask; os.cpu_count where that is unknown), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_for(requested: int) -> int:
    """The thread count llama.cpp gets: `requested`, or for 0 every core this process may use (`cores()`)."""
    if requested < 0:
        raise ValueError(f"threads must be 0 (every core) or more, not {requested}")
    return requested or cores()


def cpu_name(cpuinfo: str) -> str:
    """The CPU's model name from /proc/cpuinfo's text ("" when it names none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return ""
