"""IntercomSalesforceMapper: Intercom records in, Salesforce Leads and Tasks out.

One module (over 400 lines): for now; the InlineMapper class, its settings and its CLI entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import typing as t
from pathlib import Path

import click
from singer_kit.entry import run_cli
from singer_kit.fatal import last_word, unexpected
from singer_kit.summary import pipeline_key, write_summary
from singer_kit.writer import LeanSingerWriter
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.mapper_base import InlineMapper
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.singerlib import (
    ActivateVersionMessage,
    Message,
    RecordMessage,
    SchemaMessage,
    StateMessage,
)

from mapper_intercom_salesforce.functions import build_functions, time_zone
from mapper_intercom_salesforce.mapping import Mapping, MappingError, RecordRejected
from mapper_intercom_salesforce.names import DEFAULT_PLACEHOLDER
from mapper_intercom_salesforce.pipe import IdleFlushReader
from mapper_intercom_salesforce.rejects import FILTERED, REJECTED, RejectWriter
from mapper_intercom_salesforce.summary import now_iso
from mapper_intercom_salesforce.transcript import (
    DESCRIPTION_MAX,
    build_transcript,
    conversation_messages,
    first_message_text,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

if hasattr(t, "override"):
    override = t.override
else:  # Python < 3.12
    from typing_extensions import override

DEFAULT_MAPPINGS_DIR = "transform/mappings"
# Output files: an empty value (what Meltano passes for an unset ${VARIABLE}) means the default.
DEFAULT_REJECT_FILE = "output/rejects/map-intercom-salesforce.jsonl"
DEFAULT_PROBLEMS_FILE = "output/problems/map-intercom-salesforce.jsonl"
DEFAULT_SUMMARY_FILE = "output/map-intercom-salesforce-summary.json"
# Copies of the mapping files travel with the package: inside it when installed from a
# wheel, beside it in a source checkout (editable install).
_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED_DIRS = (_PACKAGE_DIR / "mappings", _PACKAGE_DIR.parent / "mappings")

LEAD_CONTEXT = ("settings", "company", "companies", "events", "event_count", "tags")
# The key the mapper adds to every STATE it passes on (docs/contracts.md, target contract).
STATE_KEY = "map-intercom-salesforce"
# Settings that say where things are, not what a record becomes: left out of the fingerprint.
_NOT_OUTPUT_SETTINGS = frozenset(
    {
        "mappings_dir",
        "lead_mapping",
        "task_mapping",
        "reject_file",
        "problems_file",
        "summary_file",
        "pass_through_streams",
    }
)
# Exit code of a run in which the mapping failed for some record (a configuration error).
MAPPING_FAILED_EXIT = 2
FULL_REFRESH_COMMAND = "meltano run --full-refresh intercom-to-salesforce"

TASK_CONTEXT = (
    "settings",
    "contact_id",
    "contacts",
    "parts",
    "transcript",
    "first_message",
    "tags",
)


class IntercomSalesforceMapper(InlineMapper):
    """Turns the tap-intercom-events streams into Salesforce ``Lead`` and ``Task`` streams."""

    name = "map-intercom-salesforce"
    message_reader_class = IdleFlushReader
    message_writer_class = LeanSingerWriter
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "mappings_dir",
            th.StringType,
            default=DEFAULT_MAPPINGS_DIR,
            description=(
                "Folder holding lead.yml and task.yml, relative to the working directory. When "
                "the default folder does not exist, the copies bundled with the mapper are used."
            ),
        ),
        th.Property(
            "lead_mapping",
            th.StringType,
            description="Path of the Lead mapping file; overrides mappings_dir/lead.yml.",
        ),
        th.Property(
            "task_mapping",
            th.StringType,
            description="Path of the Task mapping file; overrides mappings_dir/task.yml.",
        ),
        th.Property(
            "reject_file",
            th.StringType,
            default=DEFAULT_REJECT_FILE,
            description=(
                "JSON Lines file the mapper appends every contact and conversation to that "
                "becomes no Lead or Task, with kind ('rejected' or 'filtered') and reason. "
                "Empty: the default."
            ),
        ),
        th.Property(
            "problems_file",
            th.StringType,
            default=DEFAULT_PROBLEMS_FILE,
            description=(
                "JSON Lines file rewritten at the end of every run with the current open "
                "problems: one line per contact or conversation rejected (not filtered) and not "
                "mapped since, with its reason and run id; no duplicates. Empty: the default."
            ),
        ),
        th.Property(
            "summary_file",
            th.StringType,
            default=DEFAULT_SUMMARY_FILE,
            description=(
                "File replaced at the end of every run with its summary as JSON: records in "
                "per input stream and out per output stream, rejected and filtered records by "
                "reason with an example, status. Empty: the default."
            ),
        ),
        th.Property(
            "lead_source",
            th.StringType,
            default="Intercom",
            description="LeadSource of the Leads (settings.lead_source in mapping files).",
        ),
        th.Property(
            "company_placeholder",
            th.StringType,
            default=DEFAULT_PLACEHOLDER,
            description=(
                "Company of a Lead whose company is unknown and whose email is at a free-mail "
                "domain (Salesforce requires Company)."
            ),
        ),
        th.Property(
            "name_placeholder",
            th.StringType,
            default=DEFAULT_PLACEHOLDER,
            description="LastName of a Lead with neither a name nor an email local part.",
        ),
        th.Property(
            "intercom_app_id",
            th.StringType,
            description=(
                "Intercom workspace (app) id; when set, Leads and Tasks link to Intercom in "
                "Intercom_URL__c."
            ),
        ),
        th.Property(
            "timezone",
            th.StringType,
            default="UTC",
            description="IANA time zone of transcript times and of Task ActivityDate.",
        ),
        th.Property(
            "free_mail_domains",
            th.ArrayType(th.StringType),
            description="Email domains never used as a Company, in addition to the built-in list.",
        ),
        th.Property(
            "score_as_of",
            th.DateTimeType,
            description=(
                "Moment the engagement score measures recency from. Unset, it is the contact's "
                "own updated_at, so an unchanged contact keeps its score and is not rewritten."
            ),
        ),
        th.Property(
            "transcript_max_chars",
            th.IntegerType,
            default=DESCRIPTION_MAX,
            description="Longest Task Description; Salesforce allows 32,000 characters.",
        ),
        th.Property(
            "pass_through_streams",
            th.ArrayType(th.StringType),
            description="Input streams passed on unchanged besides Lead and Task (e.g. companies).",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Load the mapping files; a problem in either stops the mapper before any input."""
        super().__init__(*args, **kwargs)
        if isinstance(self.message_reader, IdleFlushReader):
            self.message_reader.before_read = self.flush_output
        self.settings = self._settings()
        self.zone = time_zone(self.settings["timezone"])
        functions = build_functions(self.settings)
        self.lead_mapping = self._load_mapping("lead", "contact", LEAD_CONTEXT, functions)
        self.task_mapping = self._load_mapping("task", "conversation", TASK_CONTEXT, functions)
        self.fingerprint = self._fingerprint()
        # Input stream -> (mapping, names whose schema that stream's SCHEMA message gives).
        self._schema_roots: dict[str, list[tuple[Mapping, tuple[str, ...]]]] = {
            "contacts": [(self.lead_mapping, ("contact", "record"))],
            "companies": [(self.lead_mapping, ("company",))],
            "conversations": [(self.task_mapping, ("conversation", "record"))],
        }
        self.mapping_failures = 0
        self.first_mapping_failure: str | None = None
        self.states_withheld = 0
        self._fingerprint_warned = False
        self.started_at = now_iso()
        self.received: dict[str, int] = {}
        self.rejects = RejectWriter(
            self.config.get("reject_file") or DEFAULT_REJECT_FILE,
            self.logger,
            self.config.get("problems_file") or DEFAULT_PROBLEMS_FILE,
        )
        self.pass_through = set(self.config.get("pass_through_streams") or ())
        self.companies: dict[str, dict[str, t.Any]] = {}
        self.admin_names: dict[str, str] = {}
        self.summaries_selected = False
        self.pending_contacts: dict[str, tuple[dict[str, t.Any], list[dict[str, t.Any]]]] = {}
        self.pending_conversations: dict[str, tuple[dict[str, t.Any], list[dict[str, t.Any]]]] = {}
        self.schemas_sent: set[str] = set()
        self.emitted: dict[str, int] = {}
        self._orphan_warned: set[str] = set()

    # Set-up ------------------------------------------------------------------------------

    def _settings(self) -> dict[str, t.Any]:
        """Return the settings with defaults applied, as mapping files see them."""
        config = dict(self.config)
        defaults = {
            "mappings_dir": DEFAULT_MAPPINGS_DIR,
            "lead_source": "Intercom",
            "company_placeholder": DEFAULT_PLACEHOLDER,
            "name_placeholder": DEFAULT_PLACEHOLDER,
            "timezone": "UTC",
            "transcript_max_chars": DESCRIPTION_MAX,
            "intercom_app_id": None,
            "score_as_of": None,
            "free_mail_domains": [],
        }
        for key, value in defaults.items():
            if config.get(key) in (None, ""):
                config[key] = value
        try:
            time_zone(config["timezone"])
        except ValueError as exc:
            msg = f"Setting 'timezone' is invalid: {exc}."
            raise MappingError(msg, errors=[msg]) from exc
        return config

    def _mapping_path(self, kind: str) -> Path:
        explicit = self.config.get(f"{kind}_mapping")
        if explicit:
            return Path(explicit)
        folder = Path(self.settings["mappings_dir"])
        candidate = folder / f"{kind}.yml"
        named = self.config.get("mappings_dir") not in (None, "", DEFAULT_MAPPINGS_DIR)
        if candidate.is_file() or named:
            # A folder the user named must hold the file; a missing one is an error below.
            return candidate
        for bundled in _BUNDLED_DIRS:
            if (bundled / f"{kind}.yml").is_file():
                self.logger.info(
                    "No %s in %s; using the bundled %s", candidate, os.getcwd(), bundled
                )
                return bundled / f"{kind}.yml"
        return candidate

    def _load_mapping(
        self,
        kind: str,
        record_name: str,
        context: Iterable[str],
        functions: dict[str, t.Callable[..., t.Any]],
    ) -> Mapping:
        path = self._mapping_path(kind)
        settings_schema = dict(self.config_jsonschema)
        # Keys set in the config beyond the declared settings are readable too.
        settings_schema["properties"] = {
            **{key: {} for key in self.settings},
            **self.config_jsonschema["properties"],
        }
        mapping = Mapping(
            path,
            record_name=record_name,
            context_names=context,
            functions=functions,
            settings=self.settings,
            settings_schema=settings_schema,
        )
        if mapping.uses_now:
            self.logger.warning(
                "%s calls now(): its records differ on every run, so the target rewrites them "
                "every time.",
                path,
            )
        self.logger.info(
            "Mapping %s -> stream %s (%d fields)", path, mapping.stream, len(mapping.fields)
        )
        return mapping

    def _fingerprint(self) -> str:
        """Hash what decides the output records: both mapping files and the output settings.

        The files are hashed as parsed YAML, so comments and layout do not count.
        """
        content = {
            "lead": self.lead_mapping.document,
            "task": self.task_mapping.document,
            "settings": {
                key: value
                for key, value in self.settings.items()
                if key not in _NOT_OUTPUT_SETTINGS
            },
        }
        text = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    # Output helpers ----------------------------------------------------------------------

    def output_schemas(self) -> list[SchemaMessage]:
        """Return the SCHEMA message of every output stream the mapping files define."""
        messages: list[SchemaMessage] = []
        for mapping in (self.lead_mapping, self.task_mapping):
            if any(message.stream == mapping.stream for message in messages):
                continue
            messages.append(
                SchemaMessage(
                    stream=mapping.stream,
                    schema=mapping.json_schema(),
                    key_properties=[mapping.key],
                )
            )
        return messages

    def _all_schemas(self) -> Iterator[Message]:
        """Every output SCHEMA once, before anything else the mapper writes."""
        for message in self.output_schemas():
            if message.stream not in self.schemas_sent:
                self.schemas_sent.add(message.stream)
                yield message

    def _emit(self, mapping: Mapping, record: dict[str, t.Any]) -> Iterator[Message]:
        yield from self._all_schemas()
        self.emitted[mapping.stream] = self.emitted.get(mapping.stream, 0) + 1
        self.rejects.mapped(mapping.stream, record.get(mapping.key))
        yield RecordMessage(stream=mapping.stream, record=record)

    def _reject(
        self,
        mapping: Mapping,
        source_stream: str,
        record: dict[str, t.Any],
        error: RecordRejected,
    ) -> None:
        self.rejects.write(
            stream=mapping.stream,
            source_stream=source_stream,
            key=record.get("id"),
            kind=error.kind,
            reason=error.reason,
            record=record,
        )
        if error.kind == FILTERED:
            self.logger.debug("%s %s filtered out", mapping.stream, record.get("id"))
        if error.mapping_error:
            self.mapping_failures += 1
            if self.first_mapping_failure is None:
                self.first_mapping_failure = f"{source_stream} {record.get('id')}: {error.reason}"

    # Leads -------------------------------------------------------------------------------

    def _lead_context(
        self, contact: dict[str, t.Any], summaries: list[dict[str, t.Any]]
    ) -> dict[str, t.Any]:
        refs = (contact.get("companies") or {}).get("data") or []
        known = [
            self.companies[str(ref.get("id"))]
            for ref in refs
            if isinstance(ref, dict) and str(ref.get("id")) in self.companies
        ]
        event_count = (
            sum(int(s.get("count") or 0) for s in summaries) if self.summaries_selected else None
        )
        tags = [
            str(tag.get("name"))
            for tag in (contact.get("tags") or {}).get("data") or []
            if isinstance(tag, dict) and tag.get("name")
        ]
        return {
            "settings": self.settings,
            "company": known[0] if known else None,
            "companies": known,
            "events": sorted(summaries, key=lambda s: str(s.get("name"))),
            "event_count": event_count,
            "tags": tags,
        }

    def _map_contact(
        self, contact: dict[str, t.Any], summaries: list[dict[str, t.Any]]
    ) -> Iterator[Message]:
        try:
            lead = self.lead_mapping.evaluate(contact, self._lead_context(contact, summaries))
        except RecordRejected as error:
            self._reject(self.lead_mapping, "contacts", contact, error)
            return
        yield from self._emit(self.lead_mapping, lead)

    # Tasks -------------------------------------------------------------------------------

    def _task_context(
        self, conversation: dict[str, t.Any], parts: list[dict[str, t.Any]]
    ) -> dict[str, t.Any]:
        contacts = [
            c
            for c in (conversation.get("contacts") or {}).get("contacts") or []
            if isinstance(c, dict) and c.get("id")
        ]
        messages = conversation_messages(conversation, parts, self.admin_names)
        truncated = any(p.get("conversation_parts_truncated") for p in parts)
        total = next(
            (p.get("conversation_parts_total") for p in parts if p.get("conversation_parts_total")),
            None,
        )
        transcript = build_transcript(
            messages,
            parts_total=total,
            parts_received=len({str(p.get("id")) for p in parts}),
            parts_truncated=truncated,
            timezone=self.zone,
            limit=int(self.settings["transcript_max_chars"]),
        )
        tags = [
            str(tag.get("name"))
            for tag in (conversation.get("tags") or {}).get("tags") or []
            if isinstance(tag, dict) and tag.get("name")
        ]
        return {
            "settings": self.settings,
            "contact_id": str(contacts[0]["id"]) if contacts else None,
            "contacts": contacts,
            "parts": parts,
            "transcript": transcript or None,
            "first_message": first_message_text(messages),
            "tags": tags,
        }

    def _map_conversation(
        self, conversation: dict[str, t.Any], parts: list[dict[str, t.Any]]
    ) -> Iterator[Message]:
        try:
            task = self.task_mapping.evaluate(conversation, self._task_context(conversation, parts))
        except RecordRejected as error:
            self._reject(self.task_mapping, "conversations", conversation, error)
            return
        yield from self._emit(self.task_mapping, task)

    # Buffering ---------------------------------------------------------------------------

    def _flush(self) -> Iterator[Message]:
        """Emit every buffered Lead and Task, in the order their records arrived."""
        contacts, self.pending_contacts = self.pending_contacts, {}
        for contact, summaries in contacts.values():
            yield from self._map_contact(contact, summaries)
        conversations, self.pending_conversations = self.pending_conversations, {}
        for conversation, parts in conversations.values():
            yield from self._map_conversation(conversation, parts)

    def _attach(
        self,
        pending: dict[str, tuple[dict[str, t.Any], list[dict[str, t.Any]]]],
        parent_id: t.Any,
        stream: str,
        record: dict[str, t.Any],
    ) -> None:
        entry = pending.get(str(parent_id))
        if entry is not None:
            entry[1].append(record)
            return
        if stream not in self._orphan_warned:
            self._orphan_warned.add(stream)
            self.logger.warning(
                "A %s record arrived for %s, which is not the record just before it; it is "
                "ignored. The tap must emit child records right after their parent.",
                stream,
                parent_id,
            )

    # SDK hooks ---------------------------------------------------------------------------

    @override
    def map_schema_message(self, message_dict: dict) -> Iterable[Message]:
        stream = message_dict["stream"]
        if stream == "contact_event_summaries":
            self.summaries_selected = True
        schema = message_dict.get("schema") or {}
        for mapping, roots in self._schema_roots.get(stream, ()):
            # A misspelt attribute would be null for every record: stop before mapping any.
            mapping.check_input_schema(dict.fromkeys(roots, schema), stream)
        yield from self._all_schemas()
        if stream in self.pass_through:
            yield SchemaMessage(
                stream=stream,
                schema=message_dict["schema"],
                key_properties=message_dict.get("key_properties"),
                bookmark_properties=message_dict.get("bookmark_properties"),
            )

    @override
    def map_record_message(self, message_dict: dict) -> Iterable[Message]:
        stream = message_dict["stream"]
        record = message_dict["record"]
        self.received[stream] = self.received.get(stream, 0) + 1
        if stream in ("contacts", "conversations"):
            # Children of the previous parent have all arrived by now.
            yield from self._flush()
            pending = self.pending_contacts if stream == "contacts" else self.pending_conversations
            pending[str(record.get("id"))] = (record, [])
        elif stream == "contact_event_summaries":
            self.summaries_selected = True
            self._attach(self.pending_contacts, record.get("contact_id"), stream, record)
        elif stream == "conversation_parts":
            self._attach(self.pending_conversations, record.get("conversation_id"), stream, record)
        elif stream == "companies" and record.get("id") is not None:
            self.companies[str(record["id"])] = record
        elif stream == "admins" and record.get("id") is not None and record.get("name"):
            self.admin_names[str(record["id"])] = str(record["name"])
        if stream in self.pass_through:
            yield RecordMessage.from_dict(dict(message_dict))

    @override
    def map_state_message(self, message_dict: dict) -> Iterable[Message]:
        # The state covers every record before it: those must reach the target first, and
        # their rejects must be on disk.
        yield from self._flush()
        self.rejects.flush()
        value = message_dict["value"]
        if not isinstance(value, dict):
            value = {}
        self._check_fingerprint(value.get(STATE_KEY))
        if self.mapping_failures:
            # This state covers records the mapping failed for; holding it back makes the
            # next run read them again once the mapping is fixed.
            self.states_withheld += 1
            return
        yield StateMessage(value={**value, STATE_KEY: {"mapping_fingerprint": self.fingerprint}})

    def _check_fingerprint(self, section: t.Any) -> None:
        previous = section.get("mapping_fingerprint") if isinstance(section, dict) else None
        if not previous or previous == self.fingerprint or self._fingerprint_warned:
            return
        self._fingerprint_warned = True
        self.logger.warning(
            "The mapping changed since the last run (mapping files or mapper settings; "
            "fingerprint %s, last run %s). Records already in Salesforce change only when "
            "Intercom changes them. To apply the new mapping to every record run `%s` (the "
            "target re-sends everything; upserts, no duplicates).",
            self.fingerprint,
            previous,
            FULL_REFRESH_COMMAND,
        )

    @override
    def map_activate_version_message(self, message_dict: dict) -> Iterable[Message]:
        if message_dict["stream"] in self.pass_through:
            yield ActivateVersionMessage(
                stream=message_dict["stream"], version=message_dict["version"]
            )

    @override
    def process_endofpipe(self) -> None:
        for message in self._flush():
            self.write_message(message)
        self.flush_output()
        self.rejects.close()
        self.rejects.write_problems()
        counts = ", ".join(f"{n} {stream}" for stream, n in sorted(self.emitted.items()))
        rejects = ", ".join(
            f"{n} {stream} {kind}" for (stream, kind), n in sorted(self.rejects.counts.items())
        )
        self.logger.info("Mapper emitted %s; %s", counts or "nothing", rejects or "no rejects")
        self._write_summary()
        if self.mapping_failures:
            self.logger.error(
                "The mapping failed for %d record(s) (first: %s). They are in the reject file; "
                "%d STATE message(s) from the first failure on were withheld, so the next run "
                "reads these records again. Fix the mapping file and run again (no `meltano "
                "state clear` needed).",
                self.mapping_failures,
                self.first_mapping_failure,
                self.states_withheld,
            )
            sys.exit(MAPPING_FAILED_EXIT)

    def _write_summary(self) -> None:
        rejects = self.rejects
        error = None
        if self.mapping_failures:
            error = (
                f"the mapping failed for {self.mapping_failures} record(s) (first: "
                f"{self.first_mapping_failure})"
            )
        files = {"rejects": rejects.path, "problems": rejects.problems_path}
        summary = {
            "name": self.name,
            "pipeline": pipeline_key(),
            "run_id": rejects.run_id,
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "status": "failed" if self.mapping_failures else "ok",
            "error": error,
            "records_in": dict(self.received),
            "records_out": dict(sorted(self.emitted.items())),
            "rejected": sum(n for (_, kind), n in rejects.counts.items() if kind != FILTERED),
            "filtered": sum(n for (_, kind), n in rejects.counts.items() if kind == FILTERED),
            "rejected_by_reason": rejects.by_reason(REJECTED),
            "filtered_by_reason": rejects.by_reason(FILTERED),
            "files": {k: str(v) for k, v in files.items() if v is not None and v.exists()},
        }
        path = self.config.get("summary_file") or DEFAULT_SUMMARY_FILE
        try:
            write_summary(path, summary)
        except OSError as exc:
            self.logger.warning("Could not write the summary to %s (%s).", path, exc)

    def flush_output(self) -> None:
        """Deliver every message written so far (before the mapper waits for input)."""
        writer = self.message_writer
        if isinstance(writer, LeanSingerWriter):
            writer.flush()
        else:
            sys.stdout.flush()

    # CLI ---------------------------------------------------------------------------------

    @override
    @classmethod
    def invoke(
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: t.IO[str] | None = None,
        schemas: bool = False,
    ) -> None:
        """Run the mapper; with ``--schemas`` print the output SCHEMA messages and stop."""
        if not schemas or about:
            # One paragraph as the mapper's last line (mapping file problems are invalid
            # settings: the SDK lists each).
            with last_word(cls.logger, _paragraph):
                super().invoke(
                    about=about, about_format=about_format, config=config, file_input=file_input
                )
            return
        config = config or _ConfigInput()
        mapper = cls(config=config.config, validate_config=True, parse_env_config=config.parse_env)
        for message in mapper.output_schemas():
            mapper.write_message(message)
        mapper.flush_output()

    @override
    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--schemas"],
                is_flag=True,
                help=(
                    "Print the SCHEMA message of every output stream (from the mapping files "
                    "and settings) and exit without reading standard input."
                ),
            )
        )
        return command


def _paragraph(exc: BaseException) -> str:
    return unexpected(
        exc,
        "The mapper",
        "the mapper's maintainers",
        "The state was not advanced past the records it did not pass on, so nothing is lost.",
    )


def main() -> None:
    """The console script: the command line, then a quick end (:mod:`singer_kit.entry`)."""
    run_cli(IntercomSalesforceMapper.cli)
