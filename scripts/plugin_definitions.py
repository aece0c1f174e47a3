"""Keep Meltano's view of the plugins in step with the plugins themselves.

Each plugin documents its settings in `--about --format=json`. This script turns that into
- the `settings:` of each plugin in meltano.yml (between the `# settings:` markers), and
- one plugin definition file per plugin in plugins/, in Meltano Hub's format, for other projects:
  `meltano add --from-ref plugins/extractors/tap-intercom-events.yml tap-intercom-events`, with a
  `pip_url` installing the package from this repository (:data:`REPOSITORY`), and
- the `pip_url` of each plugin, the same in meltano.yml (`-e ./<folder>`, constrained to the
  versions of requirements.lock) and in plugins/*.yml (git URLs): the plugin's package after the
  shared packages of this repository it depends on (its pyproject `dependencies`, theirs first), and
- the `commands:` of each plugin, the same in meltano.yml (between the `# commands:` markers)
  and in plugins/*.yml (:data:`COMMANDS`), and
- the tap's catalog, `extract/tap-intercom-events.catalog.json`: its `--discover` output with the
  `select`, `metadata` and `schema` rules of meltano.yml applied by Meltano's own rule code. Meltano
  runs discovery before every run of an editable (`-e`) install; with the `catalog:` extra pointing
  at this file it reads the file instead (and applies no rules of its own to it).

    python scripts/plugin_definitions.py           # rewrite all of them
    python scripts/plugin_definitions.py --check   # exit 1 when any is out of date
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomli is not installed where the venv runs Python 3.11 or later
    import tomli as tomllib  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TAP = "tap-intercom-events"
#: The catalog Meltano hands the tap (the extractor's `catalog:` extra in meltano.yml).
CATALOG = ROOT / "extract" / f"{TAP}.catalog.json"
#: Extras Meltano applies to a discovered catalog but not to one given with `catalog:`.
RULE_EXTRAS = ("select", "metadata", "schema")
#: Where other projects install the plugins from: the `pip_url` of plugins/*.yml is this git URL
#: with `#subdirectory=<package folder>`. A placeholder until the project is published: a fork
#: puts its own clone URL here (optionally with `@<tag>` to pin a release) and runs this script.
REPOSITORY = "git+https://git.example.com/revops/intercom-to-salesforce.git"
#: The mapping `meltano run` names (a mapper runs only through a mapping of its own name).
MAPPING = "intercom-salesforce-mapping"

PLUGINS: list[dict[str, Any]] = [
    {
        "type": "extractors",
        "name": "tap-intercom-events",
        "namespace": "tap_intercom_events",
        "package": "tap-intercom-events",
        "description": "Intercom contacts, companies, conversations, parts, events, admins, tags",
        "capabilities": [
            "catalog",
            "discover",
            "state",
            "about",
            "stream-maps",
            "schema-flattening",
        ],
    },
    {
        "type": "loaders",
        "name": "target-salesforce-leads",
        "namespace": "target_salesforce_leads",
        "package": "target-salesforce-leads",
        "description": "Upserts records into Salesforce by external id (Collections or Bulk 2.0)",
        "capabilities": ["about", "stream-maps", "schema-flattening"],
    },
    {
        "type": "mappers",
        "name": "map-intercom-salesforce",
        "namespace": "map_intercom_salesforce",
        "package": "transform",
        "description": "Turns Intercom records into Salesforce Leads and Tasks from mapping files",
        "capabilities": ["about"],
    },
    {
        "type": "utilities",
        "name": "intercom-webhook-receiver",
        "namespace": "intercom_webhook_receiver",
        "package": "tap-intercom-events",
        "description": "Receives Intercom webhook notifications into the inbox the tap's inbox "
        "mode reads",
        "capabilities": [],
        "extras": "receiver,postgres",
    },
]

#: Meltano commands per plugin: `meltano invoke PLUGIN:COMMAND`, and `meltano test --all` runs
#: those whose name starts with `test`. Meltano gives a command only its `args` (no `--config
#: FILE`) and the plugin's settings as environment variables, which `--config ENV` reads.
#: Meltano 4.4 runs no command of an extractor, mapper or loader inside `meltano run`
#: (`plugin:command` there starts the plain executable), so the dry run is the target's
#: `dry_run` setting, not a command.
COMMANDS: dict[str, dict[str, dict[str, str]]] = {
    "tap-intercom-events": {
        "test": {
            "args": "--config ENV --test",
            "description": "Connection test: reads one record of every stream from Intercom "
            "with the configured token and region (prints them; saves no state). Exit 0: "
            "Intercom answered.",
        },
    },
    "map-intercom-salesforce": {
        "schemas": {
            "args": "--config ENV --schemas",
            "description": "Prints the SCHEMA message of every output stream (Lead, Task), "
            "for the target's preflight: `meltano invoke intercom-salesforce-mapping:schemas "
            "| meltano invoke target-salesforce-leads:preflight`.",
        },
        "test": {
            "args": "--config ENV --schemas",
            "description": "Checks the mapping files (expressions, names, settings) and "
            "prints the output schemas. Exit 0: the mapper can start.",
        },
    },
    "target-salesforce-leads": {
        "preflight": {
            "args": "--config ENV --preflight",
            "description": "Logs in, checks API access and budget, and every sObject and field "
            "the streams write (their SCHEMA messages on standard input, when piped), with "
            "the Setup step that fixes each problem. Exit 0: ready.",
        },
        "test": {
            "args": "--config ENV --preflight",
            "description": "The preflight as a `meltano test`: login, API access and budget, "
            "the Lead and Task objects and their external id fields.",
        },
        "history-page": {
            "args": "--history-page output/run-history.html",
            "description": "Write output/run-history.html, the run history as a "
            "self-contained web page.",
        },
    },
}

#: The Singer SDK's own scalar settings (schema flattening and the target's built-ins), left out
#: of meltano.yml's declarations but kept in plugins/*.yml. Meltano resolves every declared
#: setting of a plugin again for each of its extras (`_select`, `_catalog`, `_state`, ...: 31
#: times per run for the tap, 10 for the target), so each declaration costs every run; these
#: have no default of ours (their defaults are the SDK's) and nothing here sets them. They still
#: work as custom keys under a plugin's `config:` (README, "The SDK's own settings"). The
#: object ones (stream_maps, ...) stay declared: Meltano drops the null values of an undeclared
#: object (`__else__: null`), so they only arrive intact as declared `kind: object` settings.
SDK_SCALARS = frozenset(
    {
        "flattening_enabled",
        "flattening_max_depth",
        "flattening_max_key_length",
        "flattening_separator",
        "add_record_metadata",
        "load_method",
        "batch_size_rows",
        "validate_records",
    }
)

KINDS = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
}


def about(executable: str) -> dict[str, Any]:
    """The --about JSON of one plugin executable in .venv/bin."""
    out = subprocess.run(
        [str(BIN / executable), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def settings_of(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions from a JSON schema of settings."""
    schema = info["settings"]
    required = set(schema.get("required", []))
    settings = []
    for name, prop in schema["properties"].items():
        types = prop.get("type", "string")
        types = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
        setting: dict[str, Any] = {
            "name": name,
            "kind": KINDS.get(types[0] if types else "string", "string"),
        }
        if prop.get("description"):
            setting["description"] = " ".join(prop["description"].split())
        if prop.get("secret") or prop.get("writeOnly"):
            setting["sensitive"] = True
        if "default" in prop and prop["default"] is not None:
            setting["value"] = prop["default"]
        if name in required:
            setting["required"] = True
        settings.append(setting)
    return settings


def discover(executable: str = TAP) -> dict[str, Any]:
    """The tap's own catalog (`--discover` needs no configuration and calls no API)."""
    out = subprocess.run(
        [str(BIN / executable), "--discover"], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def apply_rules(
    catalog: dict[str, Any],
    select: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply selection, metadata and schema rules exactly as `meltano run` does to a discovery.

    Uses Meltano's own rule code (the same calls as `SingerTap.apply_catalog_rules`), so the
    committed catalog is what Meltano would have produced from discovery on every run.
    """
    import structlog
    from meltano.core.plugin.singer.catalog import (
        MetadataExecutor,
        SchemaExecutor,
        select_metadata_rules,
        visit,
    )
    from meltano.core.plugin.singer.tap import config_metadata_rules, config_schema_rules

    # Meltano logs every rule it applies at debug level; a script run needs warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    catalog = json.loads(json.dumps(catalog))
    schema_rules = config_schema_rules(schema or {})
    metadata_rules = [
        *select_metadata_rules(["!*.*"]),
        *select_metadata_rules(["*.*"] if select is None else select),
        *config_metadata_rules(metadata or {}),
    ]
    if schema_rules:
        visit(catalog, SchemaExecutor(schema_rules))
    visit(catalog, MetadataExecutor(metadata_rules))
    return catalog


def tap_rules(project: dict[str, Any]) -> dict[str, Any]:
    """The extractor's select/metadata/schema in meltano.yml; refuses them per environment."""
    [tap] = [p for p in project["plugins"]["extractors"] if p["name"] == TAP]
    expected = str(CATALOG.relative_to(ROOT))
    if tap.get("catalog") != expected:
        raise SystemExit(
            f"meltano.yml: {TAP} has catalog: {tap.get('catalog')!r}, not {expected!r}, so "
            "Meltano would not read the catalog this script writes; set `catalog: "
            f"{expected}` on the extractor."
        )
    for env in project.get("environments") or []:
        plugins = ((env.get("config") or {}).get("plugins") or {}).get("extractors") or []
        for plugin in plugins:
            found = [k for k in RULE_EXTRAS if plugin.get("name") == TAP and k in plugin]
            if found:
                raise SystemExit(
                    f"meltano.yml: environment {env['name']} sets {', '.join(found)} for {TAP}; "
                    "Meltano ignores these with a committed catalog. Move them to the extractor "
                    "itself (they then apply to every environment) and run this script again."
                )
    return {key: tap[key] for key in RULE_EXTRAS if key in tap}


def catalog_text(project_text: str) -> str:
    """The catalog file's content for the given meltano.yml text."""
    rules = tap_rules(yaml.safe_load(project_text))
    return json.dumps(apply_rules(discover(), **rules), indent=2, ensure_ascii=False) + "\n"


def dump(data: Any, indent: int) -> str:
    """The YAML of ``data``, every line indented by ``indent`` spaces."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(True))


def _project(folder: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]


def local_packages(folder: str) -> list[str]:
    """The folders of this repository's packages that the package in ``folder`` depends on.

    Transitively, each after those it depends on itself (the order `pip_url` lists them in).
    """
    folders = {
        canonicalize_name(_project(p.parent.name)["name"]): p.parent.name
        for p in ROOT.glob("*/pyproject.toml")
    }
    found: list[str] = []
    for dependency in _project(folder).get("dependencies", []):
        needed = folders.get(canonicalize_name(Requirement(dependency).name))
        if needed is not None:
            found += [f for f in [*local_packages(needed), needed] if f not in found]
    return found


def pip_url(plugin: dict[str, Any]) -> str:
    """The package from :data:`REPOSITORY`, with extras, after the shared ones it needs.

    Each a git URL with `#subdirectory=<folder>`; a space between them (Meltano splits `pip_url`
    into pip's arguments at spaces, so there is none inside one).
    """
    urls = [f"{REPOSITORY}#subdirectory={folder}" for folder in local_packages(plugin["package"])]
    url = f"{REPOSITORY}#subdirectory={plugin['package']}"
    if plugin.get("extras"):
        url = f"{_project(plugin['package'])['name']}[{plugin['extras']}]@{url}"
    return " ".join([*urls, url])


def editable_pip_url(plugin: dict[str, Any]) -> str:
    """The `pip_url` of meltano.yml: :func:`pip_url` as editable installs of this checkout.

    Constrained to the versions of requirements.lock (`make lock`), as `make venv` installs them.
    """
    extras = f"[{plugin['extras']}]" if plugin.get("extras") else ""
    folders = [*local_packages(plugin["package"]), plugin["package"] + extras]
    return " ".join(["-c requirements.lock", *(f"-e ./{folder}" for folder in folders)])


def with_pip_url(project: str, plugin: dict[str, Any]) -> str:
    """meltano.yml's text with the plugin's `pip_url` line set to :func:`editable_pip_url`."""
    pattern = re.compile(
        rf"(\n  - name: {re.escape(plugin['name'])}\n(?:    .*\n)*?    pip_url: ).*"
    )
    if not pattern.search(project):
        raise SystemExit(f"meltano.yml has no pip_url for {plugin['name']}")
    return pattern.sub(lambda m: m.group(1) + editable_pip_url(plugin), project, count=1)


def _replacement(text: str) -> Callable[[re.Match[str]], str]:
    """A `re.sub` replacement inserting ``text`` as it is (its backslashes are no escapes)."""
    return lambda _match: text


def rendered() -> tuple[str, dict[Path, str]]:
    """New meltano.yml text and plugin definition files."""
    project = (ROOT / "meltano.yml").read_text()
    files: dict[Path, str] = {}
    for plugin in PLUGINS:
        project = with_pip_url(project, plugin)
        info = about(plugin["name"])
        settings = settings_of(info)
        block = f"    # settings: {plugin['name']} (generated by scripts/plugin_definitions.py)\n"
        declared = [s for s in settings if s["name"] not in SDK_SCALARS]
        block += dump({"settings": declared}, 4)
        block += f"    # end settings: {plugin['name']}\n"
        pattern = re.compile(
            rf"    # settings: {re.escape(plugin['name'])} .*?# end settings: "
            rf"{re.escape(plugin['name'])}\n",
            re.S,
        )
        if not pattern.search(project):
            raise SystemExit(f"meltano.yml has no settings markers for {plugin['name']}")
        project = pattern.sub(_replacement(block), project)
        commands = COMMANDS.get(plugin["name"], {})
        block = f"    # commands: {plugin['name']} (generated by scripts/plugin_definitions.py)\n"
        block += dump({"commands": commands}, 4)
        block += f"    # end commands: {plugin['name']}\n"
        pattern = re.compile(
            rf"    # commands: {re.escape(plugin['name'])} .*?# end commands: "
            rf"{re.escape(plugin['name'])}\n",
            re.S,
        )
        if commands and not pattern.search(project):
            raise SystemExit(f"meltano.yml has no commands markers for {plugin['name']}")
        if commands:
            project = pattern.sub(_replacement(block), project)
        definition = {
            "name": plugin["name"],
            "namespace": plugin["namespace"],
            "variant": "intercom-to-salesforce",
            "label": plugin["name"],
            "description": plugin["description"],
            "pip_url": pip_url(plugin),
            "executable": plugin["name"],
            "capabilities": plugin["capabilities"],
            "settings": settings,
            "commands": commands,
        }
        for empty in ("capabilities", "commands"):
            if not definition[empty]:
                del definition[empty]
        if plugin["type"] == "mappers":
            # What the project's meltano.yml needs under the mapper. `meltano add --from-ref`
            # (Meltano 4.4) does not copy it: the README gives the command that adds it.
            definition["mappings"] = [{"name": MAPPING}]
        path = ROOT / "plugins" / plugin["type"] / f"{plugin['name']}.yml"
        files[path] = dump(definition, 0)
    files[CATALOG] = catalog_text(project)
    return project, files


def main() -> int:
    """Write (or with --check, verify) the generated files; the exit status."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    project, files = rendered()
    stale = [ROOT / "meltano.yml"] if (ROOT / "meltano.yml").read_text() != project else []
    stale += [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run scripts/plugin_definitions.py)")
        return 1 if stale else 0
    (ROOT / "meltano.yml").write_text(project)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
