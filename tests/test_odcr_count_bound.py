"""`responder odcr create/expand --count` above RESPONDER_MAX_ODCR_COUNT exits 2, naming the
setting and its value, before any call reaches the cloud (a sandbox emulator that records every
call it answers); at the limit the same command does reach it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from responder.cli import cli
from responder.sandbox.runtime import SANDBOX_KEY, SANDBOX_SECRET

REGION, ZONE, TYPE = "us-east-2", "us-east-2a", "m5.large"
FAST = ["--wait-after-success", "0", "--wait-after-halving", "0", "--wait-after-shortage", "0", "--timeout", "0.05"]


@pytest.fixture
def aws(sandbox_factory, tmp_path):
    """(emulator-backed sandbox, odcr options pointing at it)."""
    box = sandbox_factory(None, only=("aws",))
    options = ["--cloud", "aws", "--region", REGION, "--endpoint", box.emulators["aws"].endpoint_url,
               "--ledger", str(tmp_path / "ledger.db")]
    return box, options


def _odcr(options, *args, limit: int):
    env = {"RESPONDER_MAX_ODCR_COUNT": str(limit), "AWS_ACCESS_KEY_ID": SANDBOX_KEY,
           "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET}
    return CliRunner().invoke(cli, ["odcr", *args, *options, *FAST], env=env)


def _reservation_calls(box) -> list[str]:
    return [c for c in box.calls("aws") if "CapacityReservation" in c]


def test_create_above_the_limit_exits_2_naming_the_setting_before_any_cloud_call(aws):
    box, options = aws
    result = _odcr(options, "create", "--instance-type", TYPE, "--availability-zone", ZONE, "--count", "6", limit=5)
    assert result.exit_code == 2
    assert "6 is above RESPONDER_MAX_ODCR_COUNT=5" in result.output
    assert box.calls("aws") == []


def test_expand_above_the_limit_exits_2_before_even_describing_the_reservation(aws):
    box, options = aws
    result = _odcr(options, "expand", "--odcr-id", "cr-0123456789abcdef0", "--count", "101", limit=100)
    assert result.exit_code == 2 and "RESPONDER_MAX_ODCR_COUNT=100" in result.output
    assert box.calls("aws") == []


def test_create_at_the_limit_does_reach_the_cloud(aws):
    box, options = aws
    result = _odcr(options, "create", "--instance-type", TYPE, "--availability-zone", ZONE, "--count", "5", limit=5)
    assert "RESPONDER_MAX_ODCR_COUNT" not in result.output
    assert "CreateCapacityReservation" in _reservation_calls(box), result.output
