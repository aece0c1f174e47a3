"""Why writing stopped: the first error (or spent budget) that halts a run, and what to do."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from salesforce_client.auth import AuthError
from salesforce_client.budget import BudgetExhausted

from target_salesforce_leads.fatal import KEPT


@dataclass
class Halt:
    """Whether (and why) this run stopped writing; the rest of the run then waits."""

    reason: str | None = None  # the first reason; None while writing goes on
    code: str = ""
    is_error: bool = False  # a failure (exit 1), not a spent budget
    paragraph: str | None = None  # the run's last word when it fails

    def record(self, exc: Exception, left: int, logger: logging.Logger) -> None:
        """Stop writing because of ``exc``; ``left`` records were neither written nor rejected."""
        if isinstance(exc, BudgetExhausted):
            reason = f"Stopped writing because {exc}"
            code = "BUDGET_EXHAUSTED"
            advice = "Raise api_budget or wait for the daily limit to reset."
        else:
            if isinstance(exc, AuthError):
                reason = f"Stopped writing because the login failed: {exc}"
                code = "LOGIN_FAILED"
            else:
                reason = f"Stopped writing because Salesforce kept failing: {exc}"
                code = "SALESFORCE_UNAVAILABLE"
            self.is_error = True
            advice = "Check Salesforce's status and run again."
        if self.reason is None:
            self.reason = reason
            self.code = code
        logger.warning(
            "%s. %d records were neither written nor rejected; they wait for the next run "
            "(no further state is emitted, so the tap sends them again). %s",
            reason,
            left,
            advice,
        )
        if self.is_error and self.paragraph is None:
            self.paragraph = f"The run failed: {reason}. {KEPT} {advice}"
