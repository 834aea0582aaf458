"""The shipped Prometheus alert rules: valid, behaving as their promtool unit tests say, and naming
only metrics that the service defines."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import bgremover.observability.metrics  # noqa: F401  (registers every metric of the service)

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = REPO_ROOT / "deploy" / "prometheus"
INSTALLER = "deploy/prometheus/install-promtool.sh"


@pytest.fixture(scope="module")
def promtool() -> str:
    """``BGR_PROMTOOL``, ``promtool`` on PATH, or the copy the installer puts in var/tools."""
    candidates = [os.environ.get("BGR_PROMTOOL"), shutil.which("promtool"), REPO_ROOT / "var/tools/promtool"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip(f"promtool not found: run {INSTALLER} (the CI entry point does)")


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120)


def test_rules_are_valid(promtool):
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 rules found" in result.stdout


def test_rules_fire_when_and_only_when_expected(promtool):
    result = run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_name_only_metrics_the_service_defines():
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("bgr_")}
    defined = {
        f"{name}{suffix}" for name in families for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    used = set(re.findall(r"\bbgr_[a-z_]+", (RULES_DIR / "alerts.yml").read_text()))
    assert used, "no metric found in the rules"
    assert used <= defined, f"rules use undefined metrics: {sorted(used - defined)}"
    for alert in (
        "SubmitLatency",
        "FailedJobRate",
        "JobsStuckQueued",
        "JobsStuckRunning",
        "WorkersAbsent",
        "CredentialsStale",
    ):
        assert f"BgRemover{alert}" in (RULES_DIR / "alerts.yml").read_text()
