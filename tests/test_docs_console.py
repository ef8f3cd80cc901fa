"""Console examples in the documentation are run and their printed output compared."""

from __future__ import annotations

import re
import shlex

import pytest

from .conftest import ROOT

DOCS_WITH_CONSOLE_EXAMPLES = ["docs/calcset-format.md"]


def _console_blocks(path):
    """[(command args, expected output lines)] from ```console blocks ($-prefixed commands)."""
    steps = []
    for block in re.findall(r"```console\n(.*?)```", (ROOT / path).read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((shlex.split(line[2:]), []))
            elif steps and line.strip():
                steps[-1][1].append(line)
    return steps


@pytest.mark.parametrize("doc", DOCS_WITH_CONSOLE_EXAMPLES)
def test_console_examples_print_what_the_docs_show(doc, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    steps = _console_blocks(doc)
    assert steps, f"{doc} has no console examples"
    for args, expected in steps:
        assert args[0] == "xasrepo"
        args = [str(tmp_path / a) if a.endswith(".db") else a for a in args[1:]]
        result = cli(*args)
        assert result.exit_code == 0, result.output
        printed = [line.replace(str(tmp_path) + "/", "") for line in result.stdout.splitlines()]
        for line in expected:
            assert line in printed, f"{' '.join(args)}: expected {line!r}, got {printed}"
