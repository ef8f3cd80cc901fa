"""Every command's ``--help`` reads as text reflowed to the terminal, not as a docstring's line breaks.

Rendered at COLUMNS=80 (click wraps help to 80 - 2 = 78 columns there), three checks per help page:

* **no line is cut short**: for two consecutive lines A, B of the same paragraph (B is indented
  exactly at the column where A's text starts: A's indentation for prose, the description column
  for an option line ``  --opt TYPE   description``), the first word of B would have fitted at the
  end of A (``len(A) + 1 + len(word) <= 78``). A wrapping formatter never leaves that room, so
  such a break is a hard line break of the source text (the docstring's), shown as a ragged line;
* no line is longer than 80 columns;
* every option's help text appears in full (compared with runs of whitespace collapsed and
  breaks after a hyphen joined): text in ``[...]`` is not taken for markup and dropped.
"""

from __future__ import annotations

import re

import pytest

WIDTH = 80
WRAP = WIDTH - 2  # click.formatting.HelpFormatter: min(terminal width, 80) - 2


def _all_commands():
    """(argv prefix, click command) for the app, every command and every sub-command."""
    import typer

    from cli.main import app

    root = typer.main.get_command(app)
    out = []

    def walk(path, command):
        out.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], root)
    return out


def _text_columns(help_text: str) -> list[int | None]:
    """Where the text of each line of a click help page starts (None: a blank line, a heading, or
    an entry of an Options/Commands list with its name only)."""
    columns: list[int | None] = []
    in_list = False  # in a definition list ("Options:", "Commands:"): entries at indent 2
    for line in help_text.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip() or (indent == 0 and line.rstrip().endswith(":")) or line.startswith("Usage:"):
            in_list = in_list or (indent == 0 and line.rstrip().endswith(":") and bool(line.strip()))
            columns.append(None)
        elif in_list and indent == 2:  # "  --opt TYPE    description" or "  name    description"
            gap = re.search(r"\S\s{2,}(?=\S)", line[indent:])
            columns.append(indent + gap.end() if gap else None)
        else:
            columns.append(indent)
    return columns


def ragged_lines(help_text: str, wrap: int = WRAP) -> list[str]:
    """The lines of ``help_text`` after which the next line's first word would still have fitted."""
    bad = []
    lines = help_text.splitlines()
    columns = _text_columns(help_text)
    for i, (a, b) in enumerate(zip(lines, lines[1:])):
        column, next_column = columns[i], columns[i + 1]
        next_indent = len(b) - len(b.lstrip())
        # B continues A's paragraph: starts exactly at A's text column and is not an entry of its own
        if column is None or next_column is None or next_indent != column or next_column != column:
            continue
        word = b.split()[0]
        if len(a.rstrip()) + 1 + len(word) <= wrap:
            bad.append(f"{a.rstrip()!r} / {word!r}")
    return bad


def test_the_ragged_line_check_finds_hard_breaks_and_passes_wrapped_text():
    wrapped = ("  Headline: grouped, inductive evaluation (folds by structure, maps fitted on\n"
               "  the training structures only.\n")
    assert ragged_lines(wrapped) == []
    assert ragged_lines("  Headline: grouped, inductive evaluation\n  the training structures only.\n")
    options = ("Options:\n"
               "  --seeds <int range>             Seeds per random method (UMAP, MDS).\n"
               "                                  [default: 5; x>=1]\n"
               "  -m, --method <list[umap|pca|mds]>\n"
               "                                  Methods to compare.\n"
               "  --note <str>                    A sentence to put at the top of the report\n"
               "                                  (e.g. what the data set is).\n")
    assert ragged_lines(options) == []  # "[default: 5; x>=1]" (with its two-space gap) would not fit
    assert ragged_lines("Options:\n  --note <str>  A sentence\n                to put at the top.\n")
    # entries of a list, a blank line and a heading are not continuations
    assert ragged_lines("Commands:\n  init  Create.\n  list  List.\n\nOptions:\n  --a  x\n") == []


def _flat(text: str) -> str:
    """Runs of whitespace as one space; a line broken after a hyphen (click wraps there) joined."""
    return re.sub(r"-\s+", "-", " ".join(text.split()))


@pytest.mark.parametrize("path,command", _all_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_is_reflowed_at_80_columns(path, command):
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, [*path, "--help"], prog_name="xasrepo", terminal_width=WIDTH,
                                env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert ragged_lines(text) == [], "xasrepo " + " ".join(path)
    assert max(map(len, text.splitlines())) <= WIDTH
    for param in command.params:
        if getattr(param, "help", None) and not getattr(param, "hidden", False):  # hidden: old spellings
            assert _flat(param.help) in _flat(text), (path, param.name)
