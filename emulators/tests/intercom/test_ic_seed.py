"""Seeding, the clock, persistence across restarts, the CLI and `simulate`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from emulators.testing import EmulatorProcess

from .conftest import Client, start


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulators", "intercom", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seed_is_deterministic_and_contains_the_awkward_people(tmp_path: Path) -> None:
    out_a = cli(
        "seed",
        "--data-dir",
        str(tmp_path / "a"),
        "--contacts",
        "120",
        "--conversations",
        "20",
        "--seed",
        "11",
    )
    assert out_a.returncode == 0, out_a.stderr
    counts = json.loads(out_a.stdout)
    assert counts["contacts"] == 120 and counts["conversations"] == 20
    assert counts["big_conversations"] == 2
    cli(
        "seed",
        "--data-dir",
        str(tmp_path / "b"),
        "--contacts",
        "120",
        "--conversations",
        "20",
        "--seed",
        "11",
    )
    cli(
        "seed",
        "--data-dir",
        str(tmp_path / "c"),
        "--contacts",
        "120",
        "--conversations",
        "20",
        "--seed",
        "12",
    )
    pages = {}
    manifests = {}
    for name in ("a", "b", "c"):
        with EmulatorProcess("intercom", tmp_path / name) as proc:
            client = Client(proc)
            pages[name] = [
                (c["id"], c["name"], c["email"], c["custom_attributes"])
                for c in client.get("/contacts", params={"per_page": 150}).json()["data"]
            ]
            manifests[name] = proc.admin("GET", "seed/manifest")["manifest"]
            if name == "a":
                check_awkward(client, manifests[name])
    assert [p[0] for p in pages["a"]] == [p[0] for p in pages["b"]]
    assert [p[1:] for p in pages["a"]] == [p[1:] for p in pages["b"]]
    assert manifests["a"] == manifests["b"]
    assert {p[0] for p in pages["a"]}.isdisjoint({p[0] for p in pages["c"]})


def check_awkward(client: Client, manifest: dict[str, list[str]]) -> None:
    def contact(key: str, i: int = 0) -> dict:
        return client.get(f"/contacts/{manifest[key][i]}").json()

    assert contact("name_chinese")["name"] == "王伟"
    assert contact("name_arabic")["name"] == "محمد الأحمد"
    assert contact("name_missing")["name"] is None
    assert " " not in contact("name_one_word")["name"]
    assert contact("email_missing")["email"] == ""
    assert "@" not in contact("email_malformed")["email"] or contact("email_malformed")[
        "email"
    ].endswith("@")
    assert contact("email_uppercase")["email"].isupper()
    dup = [contact("email_duplicate", i) for i in (0, 1)]
    assert dup[0]["email"] == dup[1]["email"] and {d["role"] for d in dup} == {"lead", "user"}
    long = contact("long_values")
    assert len(long["name"]) > 300 and len(long["custom_attributes"]["job_title"]) > 300
    assert contact("hand_to_sales_lead")["custom_attributes"]["qualification"] == "hand_to_sales"
    everyone = client.search_all(
        "contacts", {"field": "role", "operator": "IN", "value": ["lead", "user"]}
    )
    quals = [c["custom_attributes"].get("qualification") for c in everyone]
    assert {"hand_to_sales", "nurture", "not_qualified", None} == set(quals)
    assert 0.12 <= quals.count("hand_to_sales") / len(quals) <= 0.4
    assert {"lead", "user"} == {c["role"] for c in everyone}
    stamps = [c["created_at"] for c in everyone]
    assert max(stamps) - min(stamps) > 30 * 86400  # spread over many days
    for conv_id in manifest["big_conversations"]:
        conv = client.get(f"/conversations/{conv_id}").json()
        assert conv["statistics"]["count_conversation_parts"] > 500
    states = {
        c["state"]
        for c in client.search_all("conversations", {"field": "id", "operator": "!=", "value": "0"})
    }
    assert states == {"open", "closed", "snoozed"}
    summary = client.get(
        "/events",
        params={"type": "user", "summary": "true", "intercom_user_id": manifest["leads"][0]},
    ).json()
    assert summary["type"] == "event.summary"


def test_clock_drives_every_timestamp_and_seed_spread(fresh: Client) -> None:
    fresh.admin("POST", "clock", {"now": 1_800_000_000})
    assert fresh.admin("GET", "clock") == {"now": 1_800_000_000, "real": False}
    fresh.admin("POST", "seed", {"contacts": 50, "conversations": 10, "seed": 2})
    contacts = fresh.get("/contacts", params={"per_page": 150}).json()["data"]
    assert all(
        1_800_000_000 - 61 * 86400 <= c["created_at"] <= c["updated_at"] <= 1_800_000_000
        for c in contacts
    )
    created = fresh.post("/contacts", {"role": "lead", "email": "clock@example.com"}).json()
    assert created["created_at"] == created["updated_at"] == 1_800_000_000
    fresh.admin("POST", "clock", {"advance": 3600})
    updated = fresh.put(f"/contacts/{created['id']}", {"name": "Later"}).json()
    assert updated["updated_at"] == 1_800_003_600
    patched = fresh.admin(
        "PATCH",
        f"contacts/{created['id']}",
        {"last_seen_at": 1_799_000_000, "custom_attributes": {"qualification": "nurture"}},
    )
    assert patched["updated_at"] == 1_800_003_600 and patched["last_seen_at"] == 1_799_000_000
    raw = fresh.admin("PATCH", f"contacts/{created['id']}", {"updated_at": 1_700_000_000})
    assert (
        fresh.get(f"/contacts/{created['id']}").json()["updated_at"]
        == raw["updated_at"]
        == 1_700_000_000
    )
    real = fresh.admin("POST", "clock", {"real": True})
    assert abs(real["now"] - time.time()) < 5


def test_admin_parts_events_and_conversation_patch(fresh: Client) -> None:
    conv = fresh.get("/conversations", params={"per_page": 1}).json()["conversations"][0]
    before = conv["statistics"]["count_conversation_parts"]
    out = fresh.admin("POST", f"conversations/{conv['id']}/parts", {"count": 600})
    assert out["count_conversation_parts"] == before + 600
    got = fresh.get(f"/conversations/{conv['id']}").json()
    assert got["conversation_parts"]["total_count"] == before + 600
    assert len(got["conversation_parts"]["conversation_parts"]) == 500
    fresh.admin("PATCH", f"conversations/{conv['id']}", {"state": "closed"})
    closed = fresh.get(f"/conversations/{conv['id']}").json()
    assert closed["state"] == "closed" and closed["open"] is False
    cid = fresh.get("/contacts", params={"per_page": 1}).json()["data"][0]["id"]
    fresh.admin("POST", f"contacts/{cid}/events", {"event_name": "bulk-event", "count": 7})
    summary = fresh.get(
        "/events", params={"type": "user", "intercom_user_id": cid, "summary": "true"}
    ).json()
    assert next(e for e in summary["events"] if e["name"] == "bulk-event")["count"] == 7


def test_data_and_settings_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "ic"
    proc = start(data, "--timezone", "Pacific/Auckland", "--access-token", "persisted-token")
    try:
        proc.admin("POST", "seed", {"contacts": 30, "conversations": 5})
        client = Client(proc, token="persisted-token")
        created = client.post("/contacts", {"role": "lead", "email": "kept@example.com"}).json()
    finally:
        proc.stop()
    with EmulatorProcess("intercom", data) as again:
        client = Client(again, token="persisted-token")
        assert client.get(f"/contacts/{created['id']}").json()["email"] == "kept@example.com"
        assert client.get("/me").json()["app"]["timezone"] == "Pacific/Auckland"
        assert client.get("/contacts").json()["total_count"] == 31


def test_simulate_touches_contacts_and_conversations(fresh: Client) -> None:
    fresh.admin("POST", "clock", {"now": 1_900_000_000})
    out = fresh.admin("POST", "simulate", {"steps": 40, "seed": 9})
    assert out["contacts"] and out["conversations"]
    assert sum(out["actions"].values()) <= 40
    for cid in out["contacts"][:5]:
        assert fresh.get(f"/contacts/{cid}").json()["updated_at"] == 1_900_000_000
    for conv_id in out["conversations"][:5]:
        assert fresh.get(f"/conversations/{conv_id}").json()["updated_at"] == 1_900_000_000
    changed = fresh.search_all(
        "contacts", {"field": "updated_at", "operator": "=", "value": 1_900_000_000}
    )
    assert set(out["contacts"]) <= {c["id"] for c in changed}


def test_cli_errors_say_what_to_do(tmp_path: Path) -> None:
    out = cli("--port", "1", "--data-dir", str(tmp_path), "--timezone", "Mars/Olympus")
    assert out.returncode == 2 and "IANA" in out.stderr
    out = cli("--port", "1", "--data-dir", str(tmp_path), "--webhook", "http://127.0.0.1:9/h")
    assert out.returncode == 2 and "--webhook-secret" in out.stderr
    assert cli("--help").returncode == 0
