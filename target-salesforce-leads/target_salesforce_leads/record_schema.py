"""Record validation against the stream's JSON schema: a broken record is rejected, not fatal."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from singer_sdk.sinks.core import BaseJSONSchemaValidator

from target_salesforce_leads.validation import Rejection


class FastJSONSchemaValidator(BaseJSONSchemaValidator):
    """Schema validation compiled with fastjsonschema.

    The SDK's default validator costs more per record than everything else the target does.
    An invalid record does not stop the run: the sink is told why, and rejects that record.
    """

    def __init__(
        self, schema: dict[str, t.Any], on_invalid: t.Callable[[str], None] | None = None
    ) -> None:
        super().__init__(schema)
        import fastjsonschema  # here, not at start-up: --about and --help do without it

        self._on_invalid = on_invalid
        self._value_error = fastjsonschema.JsonSchemaValueException
        try:
            self._validate = fastjsonschema.compile(
                schema, formats={"date-time": r"^.*$", "date": r"^.*$", "time": r"^.*$"}
            )
        except fastjsonschema.JsonSchemaDefinitionException as exc:
            raise InvalidJSONSchema(f"Schema Validation Error: {exc}") from exc

    def validate(self, record: dict[str, t.Any]) -> None:
        """Check ``record``; a failure goes to ``on_invalid`` (or raises InvalidRecord)."""
        try:
            self._validate(record)
        except self._value_error as exc:
            if self._on_invalid is None:
                raise InvalidRecord(
                    f"Record Message Validation Error: {exc.message}", record
                ) from exc
            self._on_invalid(exc.message)


def schema_rejection(ext: t.Any, key_field: str | None, message: str) -> Rejection:
    """Why a record that breaks its stream's schema (``message``) is rejected."""
    if ext in (None, ""):
        return Rejection(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{key_field}] ({message})",
        )
    return Rejection(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"The record does not match its stream's schema: {message}",
    )
