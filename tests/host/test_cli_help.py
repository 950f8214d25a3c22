"""Every command explains itself: a description, help and a default for each option, and for bench
the verdicts and exit codes (argparse only, no browser)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from app.host.bench_cli import settings_from_args
from app.host.cli import build_parser

COMMANDS = ("build", "serve", "bench", "compare", "overhead", "boot-time")


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_listed():
    assert set(subparsers()) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_the_command_a_description(name):
    p = subparsers()[name]
    assert p.description and len(p.description.split()) >= 15, f"{name}: no description"
    options = [a for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert options, f"{name} has no options?"
    for action in options:
        assert action.help and action.help.strip() and action.help is not argparse.SUPPRESS, \
            f"{name} {action.option_strings}: no help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_each_default(name):
    p = subparsers()[name]
    text = p.format_help()
    for action in p._actions:
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
            continue
        # argparse wraps lines: compare with whitespace collapsed.
        assert f"(default: {action.default})" in " ".join(text.split()).replace("- ", "-"), \
            f"{name} {action.option_strings}: default {action.default!r} not shown"


def test_bench_help_names_the_verdicts_and_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "app", "bench", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    text = proc.stdout
    for word in ("ok", "DEGRADED", "WRONG", "GPU ERROR", "ERROR", "unsupported", "reference", ">= 90%", "exit codes"):
        assert word in text, word
    for line in ("  0  ", "  1  ", "  2  "):
        assert line in text
    assert "--llamacpp-threads" in text and "hardwareConcurrency" in text


def test_llamacpp_threads_reaches_the_settings():
    args = build_parser().parse_args(["bench", "--llamacpp-threads", "3"])
    assert settings_from_args(args).llamacpp_threads == 3
    args = build_parser().parse_args(["bench"])
    assert settings_from_args(args).llamacpp_threads == 0  # all the cores the page may use


def test_llamacpp_threads_out_of_range_is_refused_before_any_browser():
    proc = subprocess.run([sys.executable, "-m", "app", "bench", "--llamacpp-threads", "65"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--llamacpp-threads must be between 0 and 64" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["0", "-3", "nan"])
def test_bench_timeout_must_be_positive(value):
    proc = subprocess.run([sys.executable, "-m", "app", "bench", "--timeout", value],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--timeout must be a number of seconds above 0" in proc.stderr


def test_cpu_and_gpu_follow_the_backends_the_engines_declare():
    from app.engines import DEFAULT_ENGINES, ENGINE_KEYS, REFERENCE_KEY, keys_with_backend

    webgpu, wasm = set(keys_with_backend("webgpu")), set(keys_with_backend("wasm-cpu"))
    every = ",".join(ENGINE_KEYS)
    cpu = settings_from_args(build_parser().parse_args(["bench", "--engines", every, "--cpu"])).engines
    assert not webgpu & set(cpu) and wasm <= set(cpu)
    assert "llamacpp3-webgpu" not in cpu  # once kept by a hand-written list
    gpu = settings_from_args(build_parser().parse_args(["bench", "--engines", every, "--gpu"])).engines
    assert REFERENCE_KEY in gpu, "the reference stays: the other rows are checked against it"
    assert not (wasm - {REFERENCE_KEY}) & set(gpu) and webgpu <= set(gpu)
    assert settings_from_args(build_parser().parse_args(["bench"])).engines == list(DEFAULT_ENGINES)


def test_engines_and_runtime_help_come_from_the_registries():
    from app.engines import engines_help
    from app.host import runtimes

    text = " ".join(subparsers()["bench"].format_help().split())
    assert " ".join(engines_help().split()) in text
    assert " ".join(runtimes.help_text().split()) in text
    assert "{" + ",".join(runtimes.names()) + "}" in text
