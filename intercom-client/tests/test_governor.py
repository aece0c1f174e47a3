"""The governor's pacing and its reading of 429 answers: pure logic, in process, on a fake clock
(the tests against the emulator are in test_client.py and the tap's test_tap_rate_limit.py)."""

from __future__ import annotations

import email.utils

import pytest
from intercom_client.governor import RateGovernor

from .ic_fakes import FakeClock, answer, refused
from .ic_governor_sim import LimitedServer, Simulation


def governed(clock: FakeClock, share: float = 1.0) -> RateGovernor:
    return RateGovernor(share, clock=clock.monotonic, wall=clock.wall, sleep=clock.sleep)


def test_a_429_holds_until_the_reset() -> None:
    clock = FakeClock()
    governor = governed(clock)
    governor.observe(refused(clock, 6))
    # The reset is in whole seconds (5.5 s away), and 0.1 s is kept after it.
    assert governor.hold_seconds() == pytest.approx(5.6)
    clock.sleep(5.0)
    assert governor.hold_seconds() == pytest.approx(0.6)
    clock.sleep(1.0)
    assert governor.hold_seconds() == 0.0


def test_retry_after_wins_over_the_reset() -> None:
    clock = FakeClock()
    governor = governed(clock)
    governor.observe(refused(clock, 9, Retry_After="2"))
    assert governor.hold_seconds() == pytest.approx(2.1)
    later = email.utils.formatdate(clock.wall() + 4, usegmt=True)
    governor = governed(clock)
    governor.observe(refused(clock, 0, Retry_After=later))
    # An HTTP date has whole seconds: 3.5 s away.
    assert governor.hold_seconds() == pytest.approx(3.6)


def test_a_reset_already_due_gives_a_short_pause_that_grows_until_an_answer_gets_through() -> None:
    clock = FakeClock()
    governor = governed(clock)
    pauses = []
    for _ in range(300):
        governor._blocked_until = 0.0  # noqa: SLF001 - look at each pause on its own
        governor.observe(refused(clock, -1))
        pauses.append(governor.hold_seconds())
    assert pauses[0] == pytest.approx(0.01)
    assert pauses == sorted(pauses) and pauses[-1] > 2 * pauses[0]
    assert sum(pauses) < 15  # 300 of them in a row cost seconds, not minutes
    governor.observe(
        answer(
            200,
            X_RateLimit_Limit="1000",
            X_RateLimit_Remaining="150",
            X_RateLimit_Reset=str(int(clock.wall()) + 5),
        )
    )
    governor._blocked_until = 0.0  # noqa: SLF001
    governor.observe(refused(clock, -1))
    assert governor.hold_seconds() == pytest.approx(pauses[0])


def test_no_header_at_all_is_a_due_reset() -> None:
    clock = FakeClock()
    governor = governed(clock)
    governor.observe(answer(429))
    assert governor.hold_seconds() == pytest.approx(0.01)


def test_a_429_does_not_teach_the_window_budget() -> None:
    clock = FakeClock()
    governor = governed(clock)
    governor.observe(refused(clock, -1))
    # Remaining 0 on a refusal says nothing of the window's size: no pacing from it.
    assert governor.stats()["window_limit"] is None
    assert governor.stats()["throttled"] == 1


def test_acquire_waits_out_the_hold_on_the_clock_it_was_given() -> None:
    clock = FakeClock()
    governor = governed(clock)
    governor.observe(refused(clock, 3))
    governor.acquire()
    assert clock.now == pytest.approx(2.6)
    assert governor.stats()["requests"] == 1
    assert governor.stats()["waited_seconds"] == pytest.approx(2.6)


# Pacing at the rate limit (fake clock: a simulated Intercom, no real waits).

BUDGET = 334  # 2,000 calls a minute


@pytest.mark.parametrize(
    "per_minute_header", [False, True], ids=["limit-per-window", "limit-per-minute"]
)
@pytest.mark.parametrize(
    ("out", "back", "skew"),
    [
        (0.1, 0.05, 0.0),
        (0.3, 0.3, 0.0),
        (0.02, 0.02, 0.0),
        # Clocks apart by less than the Date header can show.
        (0.1, 0.05, -1.5),
        (0.1, 0.05, 1.5),
    ],
    ids=["100ms", "300ms", "20ms", "server-behind-1.5s", "server-ahead-1.5s"],
)
def test_at_the_rate_limit_every_window_is_used_with_no_429(
    per_minute_header: bool, out: float, back: float, skew: float
) -> None:
    # 20 workers book their turns ahead and keep requests in flight: the answers' Remaining
    # never counts those, and a window's first answer must not hand them the budget again.
    server = LimitedServer(BUDGET, per_minute_header=per_minute_header)
    sim = Simulation(server, out=out, back=back, skew=skew, workers=20)
    sim.run(80)
    windows = sim.full_windows()
    assert server.refused == 0, windows
    assert len(windows) >= 6
    assert min(windows) >= 0.95 * BUDGET, windows
    assert sim.governor.stats()["window_limit"] == BUDGET
    assert sim.governor.stats()["limit_is_window"] is not per_minute_header


@pytest.mark.parametrize(
    "per_minute_header", [False, True], ids=["limit-per-window", "limit-per-minute"]
)
def test_a_share_keeps_to_its_part_of_each_window(per_minute_header: bool) -> None:
    server = LimitedServer(BUDGET, per_minute_header=per_minute_header)
    sim = Simulation(server, share=0.5)
    sim.run(60)
    windows = sim.full_windows()
    assert server.refused == 0
    # A per-minute Limit (2,004 here) taken for the window's budget would allow all of it.
    assert max(windows) <= BUDGET // 2, windows
    assert min(windows) >= 0.95 * (BUDGET // 2), windows


def test_another_client_spending_part_of_each_window_leaves_the_rest_to_the_tap() -> None:
    server = LimitedServer(BUDGET, others_per_window=50)
    sim = Simulation(server)
    sim.run(60)
    windows = sim.full_windows()
    assert server.refused == 0
    assert min(windows) >= 0.95 * (BUDGET - 50), windows


def test_the_limit_is_the_window_budget_once_an_answer_shows_more_than_a_sixth_of_it() -> None:
    clock = FakeClock()
    reset = str(int(clock.wall()) + 5)
    governor = governed(clock)
    # Another client spent most of the window: 100 left of 167 cannot be a per-minute 167.
    governor.observe(
        answer(200, X_RateLimit_Limit="167", X_RateLimit_Remaining="99", X_RateLimit_Reset=reset)
    )
    assert governor.stats()["window_limit"] == 167
    assert governor.stats()["limit_is_window"] is True
    # A per-minute figure: a 10-second window never shows more than a sixth of it.
    governor = governed(clock)
    governor.observe(
        answer(200, X_RateLimit_Limit="1000", X_RateLimit_Remaining="166", X_RateLimit_Reset=reset)
    )
    assert governor.stats()["window_limit"] == 167
    assert governor.stats()["limit_is_window"] is False


def test_a_thread_waiting_for_its_turn_when_a_429_comes_waits_out_the_hold() -> None:
    clock = FakeClock()
    governor = governed(clock)
    first = governor.acquire()
    reset = str(int(clock.wall()) + 10)
    governor.observe(
        answer(200, X_RateLimit_Limit="167", X_RateLimit_Remaining="1", X_RateLimit_Reset=reset),
        first,
    )
    governor.acquire()  # the window's last call; the next turn is at the window's end
    # While the next thread sleeps until its turn, another answer is a 429 with Retry-After.
    clock.during_sleep.append(
        lambda: governor.observe(
            answer(429, X_RateLimit_Remaining="0", X_RateLimit_Reset=reset, Retry_After="30")
        )
    )
    governor.acquire()
    assert governor.stats()["throttled"] == 1
    assert clock.now >= 30  # went after the hold, not at the turn booked before the 429
