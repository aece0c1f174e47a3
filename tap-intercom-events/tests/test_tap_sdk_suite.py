"""The Singer SDK's standard tap tests, run against a seeded Intercom emulator."""

from __future__ import annotations

import atexit
import tempfile

from emulators.testing import EmulatorProcess
from singer_sdk.testing import get_tap_test_class
from tap_intercom_events.tap import TapIntercomEvents

from .tap_test_support import TOKEN

# The suite's config is fixed when the class is built, so the emulator starts at import time
# (on a free port) and stops when the test process exits.
_EMULATOR = EmulatorProcess(
    "intercom",
    tempfile.mkdtemp(prefix="tap-sdk-suite-"),
    args=["--rate-limit-per-minute", "10000"],
).start()
atexit.register(_EMULATOR.stop)
_EMULATOR.admin(
    "POST",
    "seed",
    {"contacts": 80, "conversations": 20, "seed": 4, "big_conversations": 1, "companies": 12},
)

TestTapIntercomEvents = get_tap_test_class(
    TapIntercomEvents,
    config={
        "access_token": TOKEN,
        "api_url": _EMULATOR.url,
        "fetch_event_summaries": True,
        "start_date": "2000-01-01T00:00:00Z",
    },
)
