"""Shared test helpers of the intercom-client package.

The helper modules (ic_fakes, ic_governor_sim) are imported relatively (``from .ic_fakes import
...``): pytest imports this directory as the package ``intercom-client.tests`` (pytest.ini's
importlib mode), a name no other test directory has.
"""
