"""Shared test helpers of the intercom-client package.

The helper modules (ic_fakes, ic_governor_sim) are imported by name: this directory is put on the
path, as the plugins' test directories do, because a `tests` package here would clash with the
repository's own `tests` package.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
