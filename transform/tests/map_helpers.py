"""Helpers for the mapper tests: Intercom records as the tap emits them, and run results."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "transform" / "mappings"
CLI = Path(sys.executable).parent / "map-intercom-salesforce"


@dataclass
class Run:
    """What one mapper run produced."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, t.Any]]
    rejects: list[dict[str, t.Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def by_key(self, stream: str, key: str) -> dict[str, dict[str, t.Any]]:
        return {r[key]: r for r in self.records(stream)}

    def leads(self) -> dict[str, dict[str, t.Any]]:
        return self.by_key("Lead", "Intercom_Contact_ID__c")

    def tasks(self) -> dict[str, dict[str, t.Any]]:
        return self.by_key("Task", "Intercom_Conversation_ID__c")

    def rejected(self, kind: str | None = None) -> dict[t.Any, dict[str, t.Any]]:
        return {r["key"]: r for r in self.rejects if kind is None or r["kind"] == kind}


def schema(stream: str, key: str = "id") -> dict[str, t.Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object"},
        "key_properties": [key],
    }


def schema_of(example: t.Any) -> dict[str, t.Any]:
    """A JSON Schema shaped like the tap's (Singer SDK typing) for an example value.

    Every object has ``additionalProperties: true`` as the SDK writes it; objects named
    ``custom_attributes`` are free-form (no properties), as in the tap.
    """
    if isinstance(example, dict):
        properties = {
            key: (
                {"type": ["object", "null"], "properties": {}, "additionalProperties": True}
                if key == "custom_attributes"
                else schema_of(value)
            )
            for key, value in example.items()
        }
        return {"type": ["object", "null"], "properties": properties, "additionalProperties": True}
    if isinstance(example, list):
        return {"type": ["array", "null"], "items": schema_of(example[0]) if example else {}}
    if isinstance(example, bool):
        return {"type": ["boolean", "null"]}
    if isinstance(example, int):
        return {"type": ["integer", "null"]}
    return {"type": ["string", "null"]}


def input_schema(stream: str, example: dict[str, t.Any], key: str = "id") -> dict[str, t.Any]:
    """The SCHEMA message of an input stream, its schema derived from an example record."""
    body = schema_of(example)
    body["type"] = "object"
    return {"type": "SCHEMA", "stream": stream, "schema": body, "key_properties": [key]}


def contacts_schema() -> dict[str, t.Any]:
    example = contact(
        "c",
        tags=["t"],
        companies=["co"],
        location={"type": "location", "country": "x", "city": "y"},
    )
    return input_schema("contacts", example)


def conversations_schema() -> dict[str, t.Any]:
    return input_schema("conversations", conversation("v", custom_attributes={}))


def companies_schema() -> dict[str, t.Any]:
    example = {"type": "company", "id": "co", "name": "n", "company_id": "x", "size": 1}
    return input_schema("companies", {**example, "custom_attributes": {}})


def record(stream: str, data: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": stream, "record": data}


def state(value: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "STATE", "value": value}


def contact(
    cid: str,
    email: str | None = "person@acme.com",
    name: str | None = "Pat Doe",
    *,
    qualification: str | None = "hand_to_sales",
    tags: t.Iterable[str] = (),
    companies: t.Iterable[str] = (),
    role: str = "user",
    **extra: t.Any,
) -> dict[str, t.Any]:
    """An Intercom 2.14 contact as the tap emits it (RFC 3339 timestamps, tag names)."""
    custom = dict(extra.pop("custom_attributes", {}))
    if qualification is not None:
        custom["qualification"] = qualification
    data = {
        "type": "contact",
        "id": cid,
        "role": role,
        "email": email,
        "name": name,
        "phone": None,
        "created_at": "2026-10-01T09:00:00Z",
        "updated_at": "2026-11-24T10:00:00Z",
        "last_seen_at": "2026-11-23T10:00:00Z",
        "last_replied_at": None,
        "custom_attributes": custom,
        "tags": {"type": "list", "data": [{"type": "tag", "id": f"t{n}", "name": n} for n in tags]},
        "companies": {
            "type": "list",
            "data": [{"type": "company", "id": c} for c in companies],
            "has_more": False,
        },
    }
    data.update(extra)
    return data


def conversation(
    vid: str,
    contact_ids: t.Iterable[str] = ("c1",),
    *,
    title: str | None = None,
    body: str = "<p>Hello there</p>",
    **extra: t.Any,
) -> dict[str, t.Any]:
    data = {
        "type": "conversation",
        "id": vid,
        "title": title,
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-24T16:30:00Z",
        "state": "open",
        "open": True,
        "priority": "not_priority",
        "source": {
            "type": "conversation",
            "id": f"s-{vid}",
            "delivered_as": "customer_initiated",
            "body": body,
            "author": {"type": "user", "id": "c1", "name": "Pat Doe", "email": "pat@acme.com"},
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": c} for c in contact_ids],
        },
        "tags": {"type": "tag.list", "tags": []},
    }
    data.update(extra)
    return data


def part(
    pid: str,
    vid: str,
    created_at: str,
    body: str | None,
    *,
    author: dict[str, t.Any] | None = None,
    part_type: str = "comment",
    **extra: t.Any,
) -> dict[str, t.Any]:
    data = {
        "type": "conversation_part",
        "id": pid,
        "conversation_id": vid,
        "part_type": part_type,
        "body": body,
        "created_at": created_at,
        "updated_at": created_at,
        "author": author or {"type": "admin", "id": "a1", "name": "Ann Agent"},
        "attachments": [],
        "conversation_parts_total": extra.pop("total", 1),
        "conversation_parts_truncated": extra.pop("truncated", False),
    }
    data.update(extra)
    return data


def write_mapping(tmp_path: Path, kind: str, change: t.Callable[[dict[str, t.Any]], None]) -> Path:
    """Copy a packaged mapping file, let ``change`` edit it, and return the new file."""
    document = yaml.safe_load((MAPPINGS / f"{kind}.yml").read_text(encoding="utf-8"))
    change(document)
    target = tmp_path / f"{kind}-edited.yml"
    target.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    return target


def run_cli(
    messages: t.Iterable[dict[str, t.Any]],
    config: dict[str, t.Any] | None,
    folder: Path,
    *,
    cwd: Path = REPO,
    rejects: bool = True,
    process: bool = False,
) -> Run:
    """Run the mapper CLI with ``config`` (a reject file in ``folder`` unless told not to).

    In this process by default (the CLI's click command, as a shell would call it: the same
    code, without the interpreter's start-up); ``process=True`` starts the executable.
    """
    settings = dict(config or {})
    reject_path = folder / "rejects.jsonl"
    if rejects:
        settings.setdefault("reject_file", str(reject_path))
    settings.setdefault("problems_file", str(folder / "problems.jsonl"))
    settings.setdefault("summary_file", str(folder / "summary.json"))
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(settings), "utf-8")
    stdin = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
    args = ["--config", str(config_path)]
    run = _in_process if not process else _subprocess
    returncode, stdout, stderr = run(args, stdin, cwd)
    parsed = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    reject_lines = []
    if reject_path.exists():
        text = reject_path.read_text("utf-8")
        reject_lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return Run(returncode, stdout, stderr, parsed, reject_lines)


def _subprocess(args: list[str], stdin: str, cwd: Path) -> tuple[int, str, str]:
    proc = subprocess.run(
        [str(CLI), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def _in_process(args: list[str], stdin: str, cwd: Path) -> tuple[int, str, str]:
    """The click command in this process, in ``cwd``; the SDK's log handlers removed after."""
    from click.testing import CliRunner
    from mapper_intercom_salesforce.mapper import IntercomSalesforceMapper

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # Building the command adds the SDK's console log handler: it writes to ``log`` here.
    command = IntercomSalesforceMapper.cli
    log = io.StringIO()
    for handler in root.handlers:
        if handler not in handlers and isinstance(handler, logging.StreamHandler):
            handler.setStream(log)
    before = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(command, args, input=stdin)
    finally:
        os.chdir(before)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr + log.getvalue()


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_inline(
    messages: t.Iterable[dict[str, t.Any]],
    config: dict[str, t.Any] | None,
    folder: Path,
) -> Run:
    """Run the mapper object in this process, without its CLI: an invalid mapping file raises
    its :class:`MappingError` here (the CLI prints it and exits 1).
    """
    from mapper_intercom_salesforce.mapper import IntercomSalesforceMapper

    settings = {
        "lead_mapping": str(MAPPINGS / "lead.yml"),
        "task_mapping": str(MAPPINGS / "task.yml"),
        "reject_file": str(folder / "rejects.jsonl"),
        "problems_file": str(folder / "problems.jsonl"),
        "summary_file": str(folder / "summary.json"),
        **(config or {}),
    }
    stdin = io.StringIO("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages))
    stdout = io.StringIO()
    handler = _Collect()
    logger = logging.getLogger(IntercomSalesforceMapper.name)
    logger.addHandler(handler)
    returncode = 0
    try:
        with contextlib.redirect_stdout(stdout):
            mapper = IntercomSalesforceMapper(config=settings)
            mapper.listen(stdin)
    except SystemExit as exit_:
        returncode = int(exit_.code or 0)
    finally:
        logger.removeHandler(handler)
    text = stdout.getvalue()
    parsed = [json.loads(line) for line in text.splitlines() if line.strip()]
    reject_path = Path(settings["reject_file"])
    reject_lines = []
    if reject_path.exists():
        reject_lines = [json.loads(x) for x in reject_path.read_text("utf-8").splitlines() if x]
    return Run(returncode, text, "\n".join(handler.lines), parsed, reject_lines)
