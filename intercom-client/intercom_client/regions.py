"""Where a workspace's API answers: one host per region, or a base URL given outright."""

from __future__ import annotations

#: The API host of each region; EU and AU workspaces only answer on their own host.
REGION_HOSTS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
DEFAULT_REGION = "us"


def base_url(region: str | None = None, api_url: str | None = None) -> str:
    """The API base URL: ``api_url`` when set (a proxy, the emulator), else the region's host.

    Raises:
        ValueError: The region is not one Intercom hosts workspaces in.
    """
    if api_url:
        return str(api_url).rstrip("/")
    name = str(region or DEFAULT_REGION).lower()
    try:
        return REGION_HOSTS[name]
    except KeyError:
        choices = ", ".join(REGION_HOSTS)
        msg = (
            f"Unknown Intercom region {name!r}: the plugin cannot tell which host serves your "
            f"workspace. Set `region` to one of {choices} (or set `api_url`)."
        )
        raise ValueError(msg) from None
