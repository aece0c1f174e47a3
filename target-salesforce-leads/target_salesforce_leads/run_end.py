"""The end of a run: its exit code, its run history entry and the last lines a person reads."""

from __future__ import annotations

import logging
import typing as t

from target_salesforce_leads.halting import Halt


def exit_code(
    fatal_code: int, config_problems: t.Sequence[str], halt: Halt, too_many_rejects: bool
) -> int:
    """The run's exit code.

    A fatal stop's, else 2 (Salesforce lacks what the mapping writes), 1 (writing failed), 3 (more
    rejects than max_reject_share) or 0.
    """
    if fatal_code:
        return fatal_code
    if config_problems:
        return 2
    if halt.is_error:
        return 1
    if too_many_rejects:
        return 3
    return 0


def record_history(
    config: t.Mapping[str, t.Any], report: dict[str, t.Any], run_id: str, logger: logging.Logger
) -> None:
    """Add this run to the run history.

    A history that cannot be written does not fail the run (its records are written and its state
    kept all the same).
    """
    from target_salesforce_leads.history import HistoryError, record_run

    try:
        where = record_run(config, report)
    except HistoryError as exc:
        logger.warning(
            "This run is missing from the run history: %s. Fix the database or "
            "history_database_url ('off' records no history); the run itself is not "
            "affected.",
            exc,
        )
        return
    if where:
        logger.info(
            "Run %s added to the run history (%s); "
            "target-salesforce-leads --history-page FILE shows it.",
            run_id,
            where,
        )


def explain(
    summary: dict[str, t.Any],
    config: t.Mapping[str, t.Any],
    code: int,
    halt: Halt,
    logger: logging.Logger,
) -> None:
    """The last lines a person reads: what did not go well, and what to do."""
    if summary["configuration_problems"]:
        logger.error(
            "Salesforce lacks what the mapping writes (%s); the records wait in the state "
            "and are written on the first run after the fix. Run --preflight for the Setup "
            "steps. Exit code 2.",
            "; ".join(summary["configuration_problems"][:5]),
        )
    if code == 3:
        t_ = summary["totals"]
        logger.error(
            "%d of %d records were rejected, more than max_reject_share=%g: the state was "
            "not advanced, so they are read again after the cause is fixed. Reasons: %s. "
            "Exit code 3.",
            t_["rejected"],
            t_["received"],
            float(config.get("max_reject_share", 0.5)),
            ", ".join(f"{r['code']} {r['count']}" for r in summary["rejected_by_reason"][:5]),
        )
    if summary["totals"]["waiting"] or summary["waiting_now"]:
        logger.warning(
            "%d records wait in this run (%s); %d in all are kept in the state and retried "
            "on every run until written (waiting_max_days=%g). List: %s",
            summary["totals"]["waiting"],
            ", ".join(f"{r['code']} {r['count']}" for r in summary["waiting_by_reason"][:5])
            or "none new",
            summary["waiting_now"],
            float(config.get("waiting_max_days", 30) or 30),
            summary["files"]["waiting"],
        )
    if halt.paragraph and code:
        logger.error("%s", halt.paragraph)
