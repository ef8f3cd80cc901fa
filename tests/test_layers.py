"""The library keeps the shape the README claims: import-linter's contracts (pyproject.toml) hold,
and every module of ``repository`` has a place in the layers."""

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import repository

ROOT = Path(__file__).resolve().parent.parent


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(_contracts())} kept, 0 broken" in done.stdout


def test_every_library_module_has_a_layer():
    layered = {name.strip() for layer in _contracts()["layers"]["layers"] for name in layer.split("|")}
    modules = {m.name for m in pkgutil.iter_modules(repository.__path__)} - {"calculations"}
    assert modules - layered == set(), "give new modules a layer in pyproject.toml [tool.importlinter]"
    assert layered - modules == set()


def test_nothing_outside_calculations_may_import_it():
    contracts = _contracts()
    guarded = set(contracts["calculations-apart-in"]["source_modules"])
    everything = {f"repository.{m.name}" for m in pkgutil.iter_modules(repository.__path__)} - {"repository.calculations"}
    assert everything | {"cli"} == guarded
    assert guarded <= set(contracts["calculations-apart-out"]["forbidden_modules"])
