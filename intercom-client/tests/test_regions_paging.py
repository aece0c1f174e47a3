"""Hosts, versions and page cursors."""

from __future__ import annotations

import pytest
from intercom_client import paging, regions, versions


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us", "https://api.intercom.io"),
        ("eu", "https://api.eu.intercom.io"),
        ("au", "https://api.au.intercom.io"),
        ("EU", "https://api.eu.intercom.io"),
        (None, "https://api.intercom.io"),
    ],
)
def test_region_selects_its_host(region: str | None, host: str) -> None:
    assert regions.base_url(region) == host


def test_api_url_overrides_region() -> None:
    assert regions.base_url("eu", "http://127.0.0.1:9/") == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="region"):
        regions.base_url("mars")


def test_version_header() -> None:
    assert versions.request_headers()["Intercom-Version"] == versions.DEFAULT_VERSION
    assert versions.request_headers("2.11") == {
        "Intercom-Version": "2.11",
        "Accept": "application/json",
    }


def test_next_cursor() -> None:
    assert paging.next_cursor({"pages": {"next": {"starting_after": "abc"}}}) == "abc"
    url = "https://api.intercom.io/contacts?per_page=5&starting_after=xyz"
    assert paging.next_cursor({"pages": {"next": url}}) == "xyz"
    assert paging.next_cursor({"pages": {"page": 3}}) is None
    assert paging.next_cursor({}) is None


def test_next_scroll_ends_on_an_empty_page() -> None:
    assert paging.next_scroll({"data": [{"id": 1}], "scroll_param": "s"}) == "s"
    assert paging.next_scroll({"data": [], "scroll_param": "s"}) is None


def test_page_size_is_clamped() -> None:
    assert [paging.page_size(v) for v in (None, 0, 20, 500)] == [150, 150, 20, 150]
