"""Dependency audit for CI: pip-audit over requirements.lock, failing on anything it could not check.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it skipped every package (a
package its service does not know, a service that answers 404); this wrapper reads its JSON instead and
fails unless every locked package was checked and none has a known vulnerability. A service that
cannot be reached is a failure too, never a pass.

Usage: python scripts/audit_deps.py [--lock requirements.lock] [--service pypi|osv]
Ends with one summary line: `audit: clean packages=N service=…` or `audit: FAILED …`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    parser.add_argument("--timeout", type=int, default=30, help="seconds per request to the service")
    args = parser.parse_args()

    cmd = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(args.lock),
        "--no-deps",  # the lock is complete: every transitive dependency is pinned in it
        "--disable-pip",
        # Not --strict: it stops at the first unchecked package; judge() lists them all and fails.
        "--vulnerability-service",
        args.service,
        "--timeout",
        str(args.timeout),
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stderr[-3000:], file=sys.stderr)
        print(
            f"audit: FAILED pip-audit stopped without a report (exit {result.returncode}), so nothing was "
            f"checked: is the {args.service} vulnerability service reachable? (see the error above)",
            file=sys.stderr,
        )
        return 2
    verdict = judge(report, locked_names(args.lock))
    for line in verdict.vulnerable:
        print(f"  vulnerable: {line}", file=sys.stderr)
    for line in verdict.unchecked:
        print(f"  NOT CHECKED: {line}", file=sys.stderr)
    for name in verdict.missing:
        print(f"  NOT CHECKED: {name}: missing from pip-audit's report", file=sys.stderr)
    if not verdict.ok:
        print(
            f"audit: FAILED service={args.service} checked={verdict.checked} "
            f"vulnerable={len(verdict.vulnerable)} unchecked={len(verdict.unchecked) + len(verdict.missing)}",
            file=sys.stderr,
        )
        return 1
    print(f"audit: clean packages={verdict.checked} service={args.service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
