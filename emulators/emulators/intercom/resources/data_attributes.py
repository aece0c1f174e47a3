"""The data attribute endpoints: list and create."""

from __future__ import annotations

import re

from emulators.core.routing import RouteTable
from emulators.intercom import model
from emulators.intercom.api import Api, Call, Reply, body_object
from emulators.intercom.errors import invalid
from emulators.intercom.workspace import dumps

routes = RouteTable()


@routes("GET", "/data_attributes")
def list_data_attributes(api: Api, call: Call) -> Reply:
    """Answer ``GET /data_attributes``."""
    model_name = call.query.get("model")
    if model_name and model_name not in {"contact", "company", "conversation"}:
        raise invalid("model must be contact, company or conversation", "model")
    sql, args = "SELECT data FROM data_attributes", []
    if model_name:
        sql, args = sql + " WHERE model = ?", [model_name]
    rows = [r[0] for r in api.conn().execute(sql + " ORDER BY id", args)]
    return Reply(body='{"type":"list","data":[' + ",".join(rows) + "]}")


@routes("POST", "/data_attributes")
def create_data_attribute(api: Api, call: Call) -> Reply:
    """Answer ``POST /data_attributes``."""
    body = body_object(call)
    name, model_name, data_type = body.get("name"), body.get("model"), body.get("data_type")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\- ]{1,190}", name):
        raise invalid("name is required (letters, digits, spaces, '_' and '-')", "name")
    if model_name not in {"contact", "company"}:
        raise invalid("model must be 'contact' or 'company'", "model")
    if data_type not in {"string", "integer", "float", "boolean", "date", "datetime"}:
        raise invalid("data_type must be string, integer, float, boolean or date", "data_type")
    with api.db.write() as conn:
        if conn.execute(
            "SELECT 1 FROM data_attributes WHERE model = ? AND name = ?", (model_name, name)
        ).fetchone():
            raise invalid(
                f"You already have '{name}' in your {model_name} data. To save "
                "this as new people data, use a different name.",
                "name",
            )
        attr_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM data_attributes").fetchone()[0]
        doc = model.data_attribute(
            attr_id,
            model_name,
            name,
            "date" if data_type == "datetime" else data_type,
            api.db.now(),
            custom=True,
            description=body.get("description") or "",
            options=[
                o.get("value") if isinstance(o, dict) else str(o) for o in body.get("options") or []
            ]
            or None,
        )
        conn.execute(
            "INSERT INTO data_attributes VALUES (?, ?, ?, ?)",
            (attr_id, model_name, name, dumps(doc)),
        )
    return Reply(body=doc)
