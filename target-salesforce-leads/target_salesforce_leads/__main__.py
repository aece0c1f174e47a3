"""The console script ``target-salesforce-leads`` (and ``python -m target_salesforce_leads``).

The target's command line, then a quick end of the process after a run that succeeded
(:mod:`singer_kit.entry`): Meltano sees the run end without waiting for Python to tear the
interpreter down.
"""

from __future__ import annotations

from singer_kit.entry import run_cli

from target_salesforce_leads.target import TargetSalesforceLeads


def main() -> None:
    """Run the command line, then end the process (see :func:`singer_kit.entry.run_cli`)."""
    run_cli(TargetSalesforceLeads.cli)


if __name__ == "__main__":
    main()
