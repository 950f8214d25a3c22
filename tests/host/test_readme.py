"""CI runs the README's test command: keep the two the same."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    test_lines = [line for line in readme.splitlines() if line.rstrip().endswith("# tests")]
    assert len(test_lines) == 1, "README must have exactly one line ending in '# tests'"
    command = test_lines[0].split("#")[0].split("&&")[-1].strip()
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert command in [line.strip() for line in ci], f"{command!r} is not a line of .ci/run"
    assert "scripts/setup.sh" in (REPO / ".ci/run").read_text()
