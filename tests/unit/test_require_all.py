"""Under SANDPIT_REQUIRE_ALL=1 (CI) a skip is a failure that still says why it skipped."""

from typing import Literal

import pytest

from tests import conftest


def skipped(when: Literal["setup", "call"]) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid="tests/test_cluster.py::test_x",
        location=("tests/test_cluster.py", 1, "test_x"),
        keywords={},
        outcome="skipped",
        longrepr=("tests/test_cluster.py", 60, "Skipped: PostgreSQL could not be installed"),
        when=when,
    )


@pytest.mark.parametrize("when", ["setup", "call"])
def test_it_fails_a_skip_and_keeps_its_reason(
    when: Literal["setup", "call"], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_ALL", "1")
    report = skipped(when)
    conftest._fail_if_skipped(report)
    assert report.failed
    assert str(report.longrepr).startswith("PostgreSQL could not be installed")


def test_it_leaves_skips_and_expected_failures_alone_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conftest, "REQUIRE_ALL", "0")
    report = skipped("setup")
    conftest._fail_if_skipped(report)
    assert report.skipped
    monkeypatch.setattr(conftest, "REQUIRE_ALL", "1")
    expected_failure = skipped("call")
    expected_failure.wasxfail = "known"
    conftest._fail_if_skipped(expected_failure)
    assert expected_failure.skipped
