"""The singer-sdk standard target tests, run against the Salesforce emulator.

The SDK's sample streams (``test_camelcase`` ...) name sObjects that do not exist in Salesforce, so
the suite runs with ``on_unwritable: reject`` (their records are rejected with INVALID_TYPE) and
``max_reject_share: 1``; it checks that the
target reads every message kind correctly, raises where the Singer spec says so, and relays state.
"""

from __future__ import annotations

import typing as t

import pytest
from emulators.testing import EmulatorProcess
from singer_sdk.testing import get_target_test_class
from target_salesforce_leads.target import TargetSalesforceLeads

# Filled in once the class's emulator is running; the SDK keeps a reference to this dict (it
# must not be empty, or the SDK substitutes its own).
_CONFIG: dict[str, t.Any] = {"client_id": "emulator-client"}

_Base = get_target_test_class(TargetSalesforceLeads, config=_CONFIG)


@pytest.fixture(scope="module", autouse=True)
def _emulator(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[None]:
    """One emulator for the whole suite."""
    tmp = tmp_path_factory.mktemp("sdk-suite")
    with EmulatorProcess("salesforce", tmp / "sf") as sf:
        _CONFIG.update(
            {
                "instance_url": sf.url,
                "login_url": sf.url,
                "ca_bundle": str(sf.ca_path),
                "client_id": "emulator-client",
                "client_secret": "emulator-secret",
                "refresh_token": "emulator-refresh-token",
                "state_path": str(tmp / "hashes.sqlite"),
                "reject_file": str(tmp / "rejects.jsonl"),
                "history_database_url": str(tmp / "run-history.db"),
                # The sample streams are no sObjects: reject their records rather than stop.
                "on_unwritable": "reject",
                "max_reject_share": 1.0,
            }
        )
        yield


class TestTargetSalesforceLeadsStandard(_Base):  # type: ignore[misc,valid-type]
    """The SDK's standard target tests."""
