"""The target's command line: the SDK's, with --preflight and --history-page."""

from __future__ import annotations

import os
import sys
import typing as t

import click
from singer_kit.fatal import last_word
from singer_sdk.target_base import Target

from target_salesforce_leads.fatal import paragraph

if t.TYPE_CHECKING:
    from target_salesforce_leads.connector import SalesforceConnector

    _TargetBase = Target
else:
    _TargetBase = object


class Commands(_TargetBase):
    """The target's extra commands; any other invocation is the run (sdk_hooks.RunEntry)."""

    connector: SalesforceConnector

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with --preflight and --history-page."""
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--preflight"],
                is_flag=True,
                default=False,
                help="Check credentials, API access, budget, sObjects and external id fields, "
                "print what to fix in Salesforce Setup, and exit (non-zero on problems).",
            )
        )
        command.params.append(
            click.Option(
                ["--history-page"],
                type=click.Path(dir_okay=False),
                default=None,
                help="Write the run history (history_database_url) as a self-contained HTML "
                "page to this file, and exit.",
            )
        )
        return command

    @classmethod
    def invoke(
        cls,
        *,
        preflight: bool = False,
        history_page: str | None = None,
        **kwargs: t.Any,
    ) -> None:
        """Run --history-page or --preflight, else the target (sdk_hooks.RunEntry)."""
        if history_page and not kwargs.get("about"):
            from target_salesforce_leads.history_page import run_history_page

            config = kwargs.get("config")
            settings = dict(config.config) if config else {}
            # As a Meltano command (no --config), the setting comes the way Meltano passes
            # every setting: as an environment variable.
            settings.setdefault(
                "history_database_url",
                os.environ.get("TARGET_SALESFORCE_LEADS_HISTORY_DATABASE_URL"),
            )
            code, message = run_history_page(settings, history_page)
            click.echo(message, err=True)
            sys.exit(code)
        if preflight and not kwargs.get("about"):
            config = kwargs.get("config")
            target = cls(
                config=config.config if config else None,
                parse_env_config=bool(config and config.parse_env),
                validate_config=True,
            )
            from target_salesforce_leads.preflight import run_preflight

            sys.exit(
                run_preflight(target.config, target.connector, input_file=kwargs.get("file_input"))
            )
        with last_word(cls.logger, paragraph):
            super().invoke(**kwargs)
