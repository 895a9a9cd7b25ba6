"""Dependency audit for CI: every package pinned in requirements.lock against PyPI's vulnerability data.

PyPI publishes known vulnerabilities (from the OSV database) in its JSON API: per release at
`/pypi/<name>/<version>/json`, and for the newest release at `/pypi/<name>/json`. This script asks the
per-release document first and, where that path is not reachable (some registry proxies, this project's
CI network among them, serve only the project document), uses the project document when the pinned version
is the newest release. Anything it could not check is listed as NOT CHECKED and the summary says
INCOMPLETE, never "clean". (pip-audit's own JSON report has the same shape and `judge()` reads it too; plain
pip-audit prints "No known vulnerabilities found" even when it skipped every package.)

Exit status: 1 on any known vulnerability; 1 when a package went unchecked, unless --allow-unchecked
(then 0 with an INCOMPLETE summary); 2 when nothing at all could be checked.

Usage: python scripts/audit_deps.py [--lock requirements.lock] [--allow-unchecked]
Ends with one summary line: `audit: clean packages=N`, `audit: INCOMPLETE …` or `audit: FAILED …`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Verdict:
    checked: int = 0
    vulnerable: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.checked > 0 and not (self.vulnerable or self.unchecked or self.missing)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_names(lock: Path) -> set[str]:
    names = set()
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(_norm(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0]))
    return names


def judge(report: dict[str, Any], expected: set[str]) -> Verdict:
    """Read pip-audit's JSON (`{"dependencies": [{"name", "version", "vulns"} | {"name", "skip_reason"}]}`)."""
    verdict = Verdict()
    seen = set()
    for dep in report.get("dependencies", []):
        name = str(dep.get("name", "?"))
        seen.add(_norm(name))
        if dep.get("skip_reason") or "vulns" not in dep:
            verdict.unchecked.append(f"{name}: {dep.get('skip_reason') or 'no result'}")
            continue
        verdict.checked += 1
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            verdict.vulnerable.append(f"{name} {dep.get('version')}: {vuln.get('id')} (fixed in {fixed})")
    verdict.missing = sorted(expected - seen)
    return verdict


PYPI = "https://pypi.org/pypi"


def _get_json(url: str, timeout: int) -> dict[str, Any] | None:
    """The JSON document at `url`, or None when the server answers 404."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (fixed https host)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return data if isinstance(data, dict) else None


def _vulns(document: dict[str, Any]) -> list[dict[str, Any]]:
    """PyPI's `vulnerabilities` entries in pip-audit's shape (`id`, `fix_versions`, `aliases`)."""
    return [
        {"id": v.get("id"), "fix_versions": v.get("fixed_in") or [], "aliases": v.get("aliases") or []}
        for v in document.get("vulnerabilities") or []
        if not v.get("withdrawn")
    ]


def pinned(lock: Path) -> list[tuple[str, str]]:
    pins = []
    for line in lock.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-") and "==" in line:
            name, version = line.split("==", 1)
            pins.append((name.strip(), version.split(";", 1)[0].strip()))
    return pins


def query_pypi(pins: list[tuple[str, str]], timeout: int) -> dict[str, Any]:
    """A report in pip-audit's JSON shape, built from PyPI's JSON API."""
    dependencies: list[dict[str, Any]] = []
    for name, version in pins:
        try:
            release = _get_json(f"{PYPI}/{name}/{version}/json", timeout)
            if release is not None:
                dependencies.append({"name": name, "version": version, "vulns": _vulns(release)})
                continue
            project = _get_json(f"{PYPI}/{name}/json", timeout)
        except (OSError, ValueError) as exc:
            dependencies.append({"name": name, "skip_reason": f"PyPI could not be reached ({exc})"})
            continue
        latest = str((project or {}).get("info", {}).get("version", ""))
        if project is not None and latest == version:
            dependencies.append({"name": name, "version": version, "vulns": _vulns(project)})
        else:
            reason = (
                f"PyPI's data for {version} is not reachable from here and {version} is not the "
                f"newest release ({latest or 'unknown'}), whose data is"
            )
            dependencies.append({"name": name, "skip_reason": reason})
    return {"dependencies": dependencies, "fixes": []}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--timeout", type=int, default=30, help="seconds per request to PyPI")
    parser.add_argument(
        "--allow-unchecked",
        action="store_true",
        help="exit 0 (summary INCOMPLETE, never clean) when some packages could not be checked",
    )
    args = parser.parse_args()

    report = query_pypi(pinned(args.lock), args.timeout)
    verdict = judge(report, locked_names(args.lock))
    for line in verdict.vulnerable:
        print(f"  vulnerable: {line}", file=sys.stderr)
    for line in verdict.unchecked:
        print(f"  NOT CHECKED: {line}", file=sys.stderr)
    for name in verdict.missing:
        print(f"  NOT CHECKED: {name}: missing from the report", file=sys.stderr)
    unchecked = len(verdict.unchecked) + len(verdict.missing)
    figures = f"checked={verdict.checked} vulnerable={len(verdict.vulnerable)} unchecked={unchecked}"
    if verdict.vulnerable or verdict.checked == 0:
        print(f"audit: FAILED {figures}", file=sys.stderr)
        return 1 if verdict.vulnerable else 2
    if unchecked:
        print(f"audit: INCOMPLETE {figures} (not clean: the packages above were not checked)")
        return 0 if args.allow_unchecked else 1
    print(f"audit: clean packages={verdict.checked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
