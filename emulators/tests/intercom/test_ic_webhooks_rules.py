"""The delivery rules as pure functions, in process (the socket-level tests are next to this)."""

from __future__ import annotations

from emulators.intercom.db import DEFAULT_SETTINGS
from emulators.intercom.delivery import Deliverer, Job, Outcome, chaos_hit
from emulators.intercom.webhooks import subscription_state


def job(**kw: object) -> Job:
    base: dict[str, object] = {
        "seq": 7,
        "notif_id": "notif_x",
        "sub": {"id": "sub_1"},
        "topic": "ping",
        "item": "{}",
        "created_at": 0,
        "attempts": 0,
        "first_sent": None,
        "delivered_at": None,
        "duplicates": 0,
    }
    return Job(**{**base, **kw})  # type: ignore[arg-type]


def test_injected_effects_depend_only_on_seed_kind_and_seq() -> None:
    picks = [chaos_hit(5, "duplicate", seq, 0.3) for seq in range(200)]
    assert picks == [chaos_hit(5, "duplicate", seq, 0.3) for seq in range(200)]
    assert picks != [chaos_hit(6, "duplicate", seq, 0.3) for seq in range(200)]
    assert picks != [chaos_hit(5, "reorder", seq, 0.3) for seq in range(200)]
    assert 30 <= sum(picks) <= 90
    assert not any(chaos_hit(5, "duplicate", seq, 0) for seq in range(200))
    assert all(chaos_hit(5, "duplicate", seq, 1) for seq in range(200))


def test_subscription_state_follows_the_clock() -> None:
    sub = {"active": True, "paused_until": 100, "throttled_until": 200, "suspended_at": None}
    assert [subscription_state(sub, t) for t in (99, 100, 199, 200)] == [
        "paused",
        "throttled",
        "throttled",
        "active",
    ]
    assert subscription_state({**sub, "suspended_at": 5, "active": False}, 500) == "suspended"


def test_next_status_after_an_attempt() -> None:
    s = {**DEFAULT_SETTINGS, "webhook_retry_base_seconds": 2, "webhook_max_attempts": 3}
    ok, err = Outcome("ok", 200, 5, None), Outcome("error", 500, 5, "answered 500")
    assert Deliverer._next(s, job(), 1, 1000.0, ok) == ("delivered", 0.0, 1000.0, 0)
    assert Deliverer._next(s, job(), 2, 1000.0, err) == ("pending", 1004.0, None, 0)
    assert Deliverer._next(s, job(), 3, 1000.0, err)[0] == "failed"
    throttled = Outcome("throttled", 429, 5, "answered 429")
    assert Deliverer._next(s, job(), 1, 1000.0, throttled) == ("pending", 1000.0, None, 0)
    slow = Outcome("slow", 200, 900, "slow")
    assert Deliverer._next(s, job(), 1, 1000.0, slow)[0] == "pending"
    dup = {**s, "webhook_duplicate_rate": 1.0, "webhook_duplicate_delay_seconds": 3}
    assert Deliverer._next(dup, job(), 1, 1000.0, ok) == ("pending", 1003.0, 1000.0, 1)
    # The injected redelivery is sent once, whatever it is answered.
    again = job(delivered_at=1000.0, duplicates=1, attempts=1)
    assert Deliverer._next(dup, again, 2, 1003.0, err) == ("delivered", 0.0, 1000.0, 1)
