"""The emulators never import the plugins or the shared client packages.

(Import circles among the emulators' own modules are guarded with every package's, in the root
``tests/test_package_guards.py``.)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emulators"
FORBIDDEN = (
    "tap_intercom_events",
    "target_salesforce_leads",
    "mapper",
    "transform",
    "salesforce_client",
    "intercom_client",
    "singer_kit",
)


def test_the_emulators_import_no_plugin_and_no_client_package() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders
