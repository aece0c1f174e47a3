"""The org's metadata model: an sObject and its fields, as describe reports them.

The standard objects are in ``standard_objects.py``; custom fields and schema files in
``schema.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "picklist": "xsd:string",
    "combobox": "xsd:string",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "address": "urn:address",
}
TEXT_TYPES = {
    "id",
    "reference",
    "string",
    "textarea",
    "email",
    "phone",
    "url",
    "picklist",
    "combobox",
}
NUMBER_TYPES = {"double", "currency", "percent", "int"}


@dataclass(slots=True)
class Field:
    """One field of an sObject, with the attributes describe reports."""

    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted: bool = False
    default: Any = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    id_lookup: bool = False
    name_field: bool = False
    custom: bool = False
    calculated: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    precision: int = 0
    scale: int = 0
    digits: int = 0
    # The compound field this one is a component of (FirstName -> Name, City -> Address).
    compound: str | None = None
    picklist_lower: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.picklist_lower = {v.lower(): v for v in self.picklist}

    @property
    def required(self) -> bool:
        """True when a create must supply a value (not nillable and not defaulted)."""
        return (
            not self.nillable and self.createable and not self.defaulted and self.type != "boolean"
        )

    def describe(self) -> dict[str, Any]:
        """Return this field as Salesforce's describe call shows it."""
        byte_length = self.length * 3 if self.type in TEXT_TYPES else 0
        return {
            "aggregatable": self.type not in {"textarea", "address"},
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": byte_length,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": False,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": self.compound,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": None,
            "filterable": self.type != "textarea" or self.length <= 255,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": self.type
            not in {"textarea", "double", "currency", "percent", "datetime", "address"},
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.custom,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": v == self.default,
                    "label": v,
                    "validFor": None,
                    "value": v,
                }
                for v in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": self.type == "address",
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "searchPrefilterable": False,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "address" and (self.type != "textarea" or self.length <= 255),
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class SObject:
    """One sObject type: its key prefix, labels and fields (by name and by lower-cased name)."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: dict[str, Field]
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    by_lower: dict[str, Field] = field(default_factory=dict)
    relationships: dict[str, Field] = field(default_factory=dict)
    # When the describe last changed (epoch seconds): the Last-Modified of describe answers.
    modified: int = 0

    def index(self) -> None:
        """Rebuild the case-insensitive lookups after fields change."""
        self.by_lower = {f.name.lower(): f for f in self.fields.values()}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }

    def field(self, name: str) -> Field | None:
        """Find a field by case-insensitive name."""
        return self.by_lower.get(name.lower())

    def signature(self) -> str:
        """A digest of the metadata describe shows; it changes whenever describe changes."""
        text = json.dumps(self.describe("0"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(text.encode()).hexdigest()

    def external_id_fields(self) -> list[Field]:
        """The fields usable as external ids."""
        return [f for f in self.fields.values() if f.external_id]

    def basic(self, version: str) -> dict[str, Any]:
        """The sObject entry of describeGlobal / GET /sobjects/X."""
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "activateable": False,
            "associateEntityType": None,
            "associateParentEntity": None,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": False,
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": True,
            "updateable": self.updateable,
            "urls": {
                "rowTemplate": base + "/{ID}",
                "defaultValues": base + "/defaultValues?recordTypeId&fields",
                "describe": base + "/describe",
                "sobject": base,
            },
        }

    def describe(self, version: str) -> dict[str, Any]:
        """The full describe body."""
        body = self.basic(version)
        body.update(
            {
                "actionOverrides": [],
                "childRelationships": [],
                "compactLayoutable": True,
                "fields": [f.describe() for f in self.fields.values()],
                "listviewable": None,
                "lookupLayoutable": None,
                "namedLayoutInfos": [],
                "networkScopeFieldName": None,
                "recordTypeInfos": [],
                "searchLayoutable": True,
                "sobjectDescribeOption": "FULL",
                "supportedScopes": [
                    {"label": "All " + self.label_plural.lower(), "name": "everything"}
                ],
            }
        )
        return body


def new_field(name: str, type_: str, label: str | None = None, **kw: Any) -> Field:
    """A field with the defaults describe shows for its type (lengths, precision, booleans)."""
    if type_ in {"id", "reference"}:
        kw.setdefault("length", 18)
    if type_ in {"double", "currency", "percent"}:
        kw.setdefault("precision", 18)
    if type_ == "int":
        kw.setdefault("digits", 9)
    if "picklist" in kw:
        kw["picklist"] = tuple(kw["picklist"])
    if "reference_to" in kw:
        kw["reference_to"] = tuple(kw["reference_to"])
    if type_ == "boolean":
        kw.setdefault("nillable", False)
        kw.setdefault("defaulted", True)
        kw.setdefault("default", False)
    return Field(name=name, type=type_, label=label or name, **kw)


def read_only_field(name: str, type_: str, label: str | None = None, **kw: Any) -> Field:
    """A read-only (system or computed) field."""
    return new_field(name, type_, label, createable=False, updateable=False, **kw)


def system_fields(owner: bool = True, queues: bool = False) -> list[Field]:
    """Id, OwnerId and the audit fields.

    ``queues``: records can be owned by a queue, so
    OwnerId is polymorphic (``referenceTo: ["Group", "User"]``, as Lead's and custom
    objects' are in real describes).
    """
    fields = [
        read_only_field("Id", "id", "Record ID", nillable=False, defaulted=True, id_lookup=True)
    ]
    if owner:
        fields.append(
            new_field(
                "OwnerId",
                "reference",
                "Owner ID",
                nillable=False,
                defaulted=True,
                reference_to=["Group", "User"] if queues else ["User"],
                relationship_name="Owner",
            )
        )
    fields += [
        read_only_field("IsDeleted", "boolean", "Deleted"),
        read_only_field("CreatedDate", "datetime", "Created Date", nillable=False, defaulted=True),
        read_only_field(
            "CreatedById",
            "reference",
            "Created By ID",
            nillable=False,
            defaulted=True,
            reference_to=["User"],
            relationship_name="CreatedBy",
        ),
        read_only_field(
            "LastModifiedDate", "datetime", "Last Modified Date", nillable=False, defaulted=True
        ),
        read_only_field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            nillable=False,
            defaulted=True,
            reference_to=["User"],
            relationship_name="LastModifiedBy",
        ),
        read_only_field(
            "SystemModstamp", "datetime", "System Modstamp", nillable=False, defaulted=True
        ),
    ]
    return fields
