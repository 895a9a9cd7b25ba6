"""Dependencies: bounded in pyproject, pinned for the image, and audited without false "clean"s."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    raw = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        raw += extra
    raw += PYPROJECT["build-system"]["requires"]
    return [Requirement(r) for r in raw]


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


@pytest.mark.parametrize("req", _requirements(), ids=str)
def test_every_dependency_has_an_upper_bound(req: Requirement) -> None:
    assert any(spec.operator in ("<", "<=", "==", "~=") for spec in req.specifier), (
        f"{req} has no upper bound: add <next major (the next minor for a 0.x tool) after the tested version"
    )


def test_the_lock_pins_every_runtime_dependency_within_its_bounds() -> None:
    pins = _lock()
    for raw in PYPROJECT["project"]["dependencies"]:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock (run make lock)"
        assert req.specifier.contains(pins[name]), f"locked {req.name}=={pins[name]} is outside {req}"
    for extra in ("celery[redis]", "psycopg[binary]"):
        assert canonicalize_name(Requirement(extra).name) in pins
    assert "redis" in pins and "psycopg-binary" in pins  # the extras' own packages
    # Dev tools stay out of the image.
    assert not {"pytest", "mypy", "ruff", "pip-audit", "playwright"} & set(pins)


def test_the_image_installs_from_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY requirements\.lock", dockerfile, re.M)
    assert "pip install --no-deps -r requirements.lock" in dockerfile
    assert re.search(r"pip install --no-deps \.", dockerfile), "the project must not re-resolve its deps"


def _audit() -> Any:
    spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# The report shape judge() reads: what query_pypi() builds, and what `pip-audit --format json` prints.
CLEAN = {
    "dependencies": [
        {"name": "django", "version": "5.2.19", "vulns": []},
        {"name": "requests", "version": "2.34.2", "vulns": []},
    ],
    "fixes": [],
}
VULNERABLE = {
    "dependencies": [
        {"name": "django", "version": "5.2.19", "vulns": []},
        {
            "name": "requests",
            "version": "2.31.0",
            "vulns": [
                {
                    "id": "GHSA-9wx4-h78v-vm56",
                    "fix_versions": ["2.32.0"],
                    "aliases": ["CVE-2024-35195"],
                    "description": "...",
                }
            ],
        },
    ],
    "fixes": [],
}
SKIPPED = {
    "dependencies": [
        {"name": "django", "version": "5.2.19", "vulns": []},
        {
            "name": "requests",
            "skip_reason": "Dependency not found on PyPI and could not be audited: requests (2.34.2)",
        },
    ],
    "fixes": [],
}


def test_the_audit_passes_only_when_every_package_was_checked_and_clean() -> None:
    audit = _audit()
    expected = {"django", "requests"}
    assert audit.judge(CLEAN, expected).ok
    vulnerable = audit.judge(VULNERABLE, expected)
    assert not vulnerable.ok and "GHSA-9wx4-h78v-vm56" in vulnerable.vulnerable[0]
    skipped = audit.judge(SKIPPED, expected)
    assert not skipped.ok and "could not be audited" in skipped.unchecked[0]
    missing = audit.judge(CLEAN, {*expected, "pandas"})
    assert not missing.ok and missing.missing == ["pandas"]
    assert not audit.judge({"dependencies": [], "fixes": []}, set()).ok  # nothing checked is no pass


def test_the_audit_reads_every_locked_name() -> None:
    names = _audit().locked_names(ROOT / "requirements.lock")
    assert names == set(_lock())


# One entry of PyPI's JSON API `vulnerabilities` list (warehouse docs, "Project"/"Release" JSON).
PYPI_RELEASE = {
    "info": {"name": "requests", "version": "2.31.0"},
    "vulnerabilities": [
        {
            "aliases": ["CVE-2024-35195"],
            "details": "When making requests through a Requests Session...",
            "fixed_in": ["2.32.0"],
            "id": "GHSA-9wx4-h78v-vm56",
            "link": "https://osv.dev/vulnerability/GHSA-9wx4-h78v-vm56",
            "source": "osv",
            "summary": None,
            "withdrawn": None,
        },
        {
            "aliases": [],
            "details": "withdrawn advisory",
            "fixed_in": [],
            "id": "PYSEC-0000-0",
            "link": "https://osv.dev/vulnerability/PYSEC-0000-0",
            "source": "osv",
            "summary": None,
            "withdrawn": "2024-06-01T00:00:00Z",
        },
    ],
}


def test_pypi_vulnerabilities_become_findings_and_withdrawn_ones_do_not() -> None:
    audit = _audit()
    vulns = audit._vulns(PYPI_RELEASE)
    assert [v["id"] for v in vulns] == ["GHSA-9wx4-h78v-vm56"]
    report = {"dependencies": [{"name": "requests", "version": "2.31.0", "vulns": vulns}]}
    verdict = audit.judge(report, {"requests"})
    assert not verdict.ok and "fixed in 2.32.0" in verdict.vulnerable[0]


def test_every_pin_of_the_lock_is_queried() -> None:
    pins = _audit().pinned(ROOT / "requirements.lock")
    assert {name for name, _ in pins} and all(version for _, version in pins)
    assert {_audit()._norm(name) for name, _ in pins} == _audit().locked_names(ROOT / "requirements.lock")
