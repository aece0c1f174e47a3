"""`emulator salesforce ...`: serve the emulator, or query a data dir."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emulator salesforce",
        description="Serve a local, stateful Salesforce REST + Bulk API 2.0 emulator over HTTPS "
        'on 127.0.0.1. Subcommand: `emulator salesforce query --data-dir D "SELECT ..."`.',
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="where records, certificates (ca.pem) and jobs are kept",
    )
    parser.add_argument("--api-version", default="62.0", help="newest API version served")
    parser.add_argument(
        "--daily-api-limit", type=int, default=100_000, help="API requests allowed per UTC day"
    )
    parser.add_argument(
        "--token-ttl", type=float, default=7200.0, help="access token lifetime in seconds"
    )
    parser.add_argument("--client-id", default="emulator-client")
    parser.add_argument("--client-secret", default="emulator-secret")
    parser.add_argument("--username", default="integration@emulator.local")
    parser.add_argument("--password", default="emulator")
    parser.add_argument("--refresh-token", default="emulator-refresh-token")
    parser.add_argument(
        "--schema",
        type=Path,
        action="append",
        default=[],
        help="extra custom fields (YAML, same format as schema.yml); repeatable",
    )
    parser.add_argument(
        "--bulk-rate",
        type=float,
        default=None,
        help="slow Bulk processing down to N records/s (default: as fast as possible)",
    )
    parser.add_argument(
        "--org-id",
        default=None,
        help="the org id (00D..., 15 or 18 characters) instead of the one made "
        "for this data dir on its first start",
    )
    parser.add_argument(
        "--drop-field",
        action="append",
        default=[],
        metavar="OBJECT.FIELD",
        help="start without this custom field, e.g. "
        "Lead.Intercom_Qualification__c (a misconfigured org); repeatable",
    )
    parser.add_argument(
        "--picklist",
        action="append",
        default=[],
        metavar="OBJECT.FIELD=V1,V2",
        help="set a picklist's values (restriction unchanged); repeatable",
    )
    parser.add_argument(
        "--restricted-picklist",
        action="append",
        default=[],
        metavar="OBJECT.FIELD=V1,V2",
        help="set a picklist's values and make it restricted, e.g. "
        "Lead.LeadSource=Web,Other; repeatable",
    )
    parser.add_argument(
        "--read-only-field",
        action="append",
        default=[],
        metavar="OBJECT.FIELD",
        help="make a field read-only for the integration user (createable and "
        "updateable false, like field-level security); repeatable",
    )
    parser.add_argument(
        "--limit-info-format",
        default="api-usage={used}/{max}",
        metavar="TEMPLATE",
        help="the Sforce-Limit-Info value, with {used}, {max} and {remaining} "
        "filled in, e.g. 'api-usage={used}/{max}; "
        "per-app-api-usage={used}/250(appName=sample-app)' (default: "
        "api-usage={used}/{max})",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level")
    return parser


def _query(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="emulator salesforce query",
        description="Print the records a SOQL query selects, one JSON object a line. Works "
        "while a server runs on the same data dir.",
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--all", action="store_true", help="include deleted records (queryAll)")
    parser.add_argument("--schema", type=Path, action="append", default=[])
    parser.add_argument("soql")
    args = parser.parse_args(argv)
    from emulators.salesforce import soql
    from emulators.salesforce.errors import SalesforceError
    from emulators.salesforce.schema import SchemaError, load_schema
    from emulators.salesforce.store import Store

    if not (args.data_dir / "salesforce.sqlite3").exists():
        print(
            f"emulator salesforce query: no emulator data in {args.data_dir}; start the "
            "emulator with this --data-dir first.",
            file=sys.stderr,
        )
        return 1
    try:
        store = Store(args.data_dir, load_schema(args.schema), readonly=True)
        query = soql.parse(args.soql, store)
        rows = soql.execute(query, store, args.all)
    except SchemaError as exc:
        print(f"emulator salesforce query: {exc}", file=sys.stderr)
        return 2
    except SalesforceError as exc:
        print(f"emulator salesforce query: {exc.code}: {exc.message.strip()}", file=sys.stderr)
        return 1
    if query.count:
        print(json.dumps({"count": len(rows)}))
        return 0
    out = sys.stdout
    for row in rows:
        record = soql.shape(query, store, row, "62.0")
        record.pop("attributes", None)
        out.write(json.dumps(record) + "\n")
    return 0


def main(argv: list[str]) -> int:
    """Entry point called by the `emulator` dispatcher."""
    if argv and argv[0] == "query":
        return _query(argv[1:])
    args = _serve_parser().parse_args(argv)
    import uvicorn

    from emulators.salesforce.app import (
        Settings,
        build_app,
        check_limit_info_format,
        make_emulator,
    )
    from emulators.salesforce.schema import SchemaError
    from emulators.salesforce.tls import ensure_certificates

    try:
        check_limit_info_format(args.limit_info_format)
    except ValueError as exc:
        print(f"emulator salesforce: --limit-info-format: {exc}", file=sys.stderr)
        return 2
    args.data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=args.data_dir,
        api_version=args.api_version,
        daily_api_limit=args.daily_api_limit,
        token_ttl=args.token_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        refresh_token=args.refresh_token,
        schema_files=args.schema,
        bulk_rate=args.bulk_rate,
        org_id=args.org_id,
        drop_fields=args.drop_field,
        picklists=args.picklist,
        restricted_picklists=args.restricted_picklist,
        read_only_fields=args.read_only_field,
        limit_info_format=args.limit_info_format,
    )
    try:
        emulator = make_emulator(settings)
    except SchemaError as exc:
        print(f"emulator salesforce: {exc}", file=sys.stderr)
        return 2
    cert, key = ensure_certificates(args.data_dir)
    config = uvicorn.Config(
        build_app(emulator),
        host="127.0.0.1",
        port=args.port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    print(
        f"Salesforce emulator on https://127.0.0.1:{args.port} (CA: {args.data_dir / 'ca.pem'})",
        flush=True,
    )
    uvicorn.Server(config).run()
    return 0
