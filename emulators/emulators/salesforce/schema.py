"""The emulated org's metadata: standard objects and fields plus custom fields from YAML."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SCHEMA = Path(__file__).with_name("schema.yml")

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


def _f(name: str, type_: str, label: str | None = None, **kw: Any) -> Field:
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


def _ro(name: str, type_: str, label: str | None = None, **kw: Any) -> Field:
    """A read-only (system or computed) field."""
    return _f(name, type_, label, createable=False, updateable=False, **kw)


def _system_fields(owner: bool = True, queues: bool = False) -> list[Field]:
    """Id, OwnerId and the audit fields.

    ``queues``: records can be owned by a queue, so
    OwnerId is polymorphic (``referenceTo: ["Group", "User"]``, as Lead's and custom
    objects' are in real describes).
    """
    fields = [_ro("Id", "id", "Record ID", nillable=False, defaulted=True, id_lookup=True)]
    if owner:
        fields.append(
            _f(
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
        _ro("IsDeleted", "boolean", "Deleted"),
        _ro("CreatedDate", "datetime", "Created Date", nillable=False, defaulted=True),
        _ro(
            "CreatedById",
            "reference",
            "Created By ID",
            nillable=False,
            defaulted=True,
            reference_to=["User"],
            relationship_name="CreatedBy",
        ),
        _ro("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, defaulted=True),
        _ro(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            nillable=False,
            defaulted=True,
            reference_to=["User"],
            relationship_name="LastModifiedBy",
        ),
        _ro("SystemModstamp", "datetime", "System Modstamp", nillable=False, defaulted=True),
    ]
    return fields


SALUTATIONS = ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Intercom"]
INDUSTRIES = [
    "Agriculture",
    "Banking",
    "Communications",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Finance",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Other",
]
LEAD_STATUSES = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
]
TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]


GEOCODE_ACCURACY = [
    "Address",
    "NearAddress",
    "Block",
    "Street",
    "ExtendedZip",
    "Zip",
    "Neighborhood",
    "City",
    "County",
    "State",
    "Unknown",
]


def _address(prefix: str, label: str) -> list[Field]:
    """A standard address: its components, geolocation and read-only compound field.

    The compound field is ``Address``, ``MailingAddress``, ... .

    StateCode/CountryCode exist only when an org enables state and country/territory
    picklists; this org does not, so they are absent (as in such an org's describe).
    """
    compound = prefix + "Address"
    parts = [
        ("Street", "textarea", "Street", 255),
        ("City", "string", "City", 40),
        ("State", "string", "State/Province", 80),
        ("PostalCode", "string", "Zip/Postal Code", 20),
        ("Country", "string", "Country", 80),
    ]
    fields = [
        _f(prefix + name, type_, f"{label} {text}".strip(), length=length, compound=compound)
        for name, type_, text, length in parts
    ]
    fields += [
        _f(
            prefix + "Latitude",
            "double",
            f"{label} Latitude".strip(),
            precision=18,
            scale=15,
            compound=compound,
        ),
        _f(
            prefix + "Longitude",
            "double",
            f"{label} Longitude".strip(),
            precision=18,
            scale=15,
            compound=compound,
        ),
        _f(
            prefix + "GeocodeAccuracy",
            "picklist",
            f"{label} Geocode Accuracy".strip(),
            length=40,
            picklist=GEOCODE_ACCURACY,
            restricted=True,
            compound=compound,
        ),
        _ro(compound, "address", f"{label} Address".strip()),
    ]
    return fields


def _person_fields() -> list[Field]:
    # LastName, FirstName and Salutation are the components of the compound Name (MiddleName
    # and Suffix too, in orgs that enable them; this one does not).
    return [
        _f("LastName", "string", "Last Name", length=80, nillable=False, compound="Name"),
        _f("FirstName", "string", "First Name", length=40, compound="Name"),
        _f(
            "Salutation", "picklist", "Salutation", length=40, picklist=SALUTATIONS, compound="Name"
        ),
        _ro("Name", "string", "Full Name", length=121, name_field=True, nillable=False),
        _f("Title", "string", "Title", length=128),
        _f("Phone", "phone", "Phone", length=40),
        _f("MobilePhone", "phone", "Mobile Phone", length=40),
        _f("Email", "email", "Email", length=80, id_lookup=True),
        _f("LeadSource", "picklist", "Lead Source", length=255, picklist=LEAD_SOURCES),
        _f("Description", "textarea", "Description", length=32000),
        _f("HasOptedOutOfEmail", "boolean", "Email Opt Out"),
        _ro("LastActivityDate", "date", "Last Activity"),
    ]


def standard_objects() -> dict[str, SObject]:
    """Build the standard objects the emulator knows, without custom fields."""
    lead = [
        *_system_fields(queues=True),
        *_person_fields(),
        _f("Company", "string", "Company", length=255, nillable=False),
        *_address("", ""),
        _f("Website", "url", "Website", length=255),
        _f(
            "Status",
            "picklist",
            "Status",
            length=255,
            nillable=False,
            defaulted=True,
            default="Open - Not Contacted",
            picklist=LEAD_STATUSES,
            restricted=True,
        ),
        _f("Industry", "picklist", "Industry", length=255, picklist=INDUSTRIES),
        _f("Rating", "picklist", "Rating", length=255, picklist=["Hot", "Warm", "Cold"]),
        _f("AnnualRevenue", "currency", "Annual Revenue", scale=0),
        _f("NumberOfEmployees", "int", "Employees", digits=8),
        _ro("IsConverted", "boolean", "Converted"),
        _ro("ConvertedDate", "date", "Converted Date"),
        _ro(
            "ConvertedAccountId",
            "reference",
            "Converted Account ID",
            reference_to=["Account"],
            relationship_name="ConvertedAccount",
        ),
        _ro(
            "ConvertedContactId",
            "reference",
            "Converted Contact ID",
            reference_to=["Contact"],
            relationship_name="ConvertedContact",
        ),
        _ro(
            "ConvertedOpportunityId",
            "reference",
            "Converted Opportunity ID",
            reference_to=["Opportunity"],
            relationship_name="ConvertedOpportunity",
        ),
        _f("IsUnreadByOwner", "boolean", "Unread By Owner"),
    ]
    contact = [
        *_system_fields(),
        *_person_fields(),
        _f(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        _f("Department", "string", "Department", length=80),
        _f("Birthdate", "date", "Birthdate"),
        *_address("Mailing", "Mailing"),
        *_address("Other", "Other"),
    ]
    account = [
        *_system_fields(),
        _f("Name", "string", "Account Name", length=255, nillable=False, name_field=True),
        _f(
            "Type",
            "picklist",
            "Account Type",
            length=255,
            picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
        ),
        _f(
            "ParentId",
            "reference",
            "Parent Account ID",
            reference_to=["Account"],
            relationship_name="Parent",
        ),
        _f("Industry", "picklist", "Industry", length=255, picklist=INDUSTRIES),
        _f("Website", "url", "Website", length=255),
        _f("Phone", "phone", "Account Phone", length=40),
        _f("Description", "textarea", "Account Description", length=32000),
        _f("NumberOfEmployees", "int", "Employees", digits=8),
        _f("AnnualRevenue", "currency", "Annual Revenue", scale=0),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
    ]
    task = [
        *_system_fields(),
        _f(
            "WhoId",
            "reference",
            "Name ID",
            reference_to=["Contact", "Lead"],
            relationship_name="Who",
        ),
        _f(
            "WhatId",
            "reference",
            "Related To ID",
            reference_to=["Account", "Opportunity"],
            relationship_name="What",
        ),
        _f(
            "Subject",
            "combobox",
            "Subject",
            length=255,
            picklist=["Call", "Send Letter", "Send Quote", "Other"],
        ),
        _f("ActivityDate", "date", "Due Date Only"),
        _f(
            "Status",
            "picklist",
            "Status",
            length=255,
            nillable=False,
            defaulted=True,
            default="Not Started",
            picklist=TASK_STATUSES,
            restricted=True,
        ),
        _f(
            "Priority",
            "picklist",
            "Priority",
            length=40,
            nillable=False,
            defaulted=True,
            default="Normal",
            picklist=["High", "Normal", "Low"],
            restricted=True,
        ),
        _ro("IsHighPriority", "boolean", "High Priority", calculated=True),
        _f("Description", "textarea", "Comments", length=32000),
        _f("Type", "picklist", "Type", length=255, picklist=["Call", "Email", "Meeting", "Other"]),
        _f(
            "TaskSubtype",
            "picklist",
            "Task Subtype",
            length=255,
            updateable=False,
            picklist=["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
        ),
        _ro("IsClosed", "boolean", "Closed", calculated=True),
        _ro(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        _f("CallDurationInSeconds", "int", "Call Duration", digits=8),
        _ro("CompletedDateTime", "datetime", "Completed Date/Time"),
    ]
    opportunity = [
        *_system_fields(),
        _f("Name", "string", "Name", length=120, nillable=False, name_field=True),
        _f(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        _f(
            "StageName",
            "picklist",
            "Stage",
            length=255,
            nillable=False,
            picklist=STAGES,
            restricted=True,
        ),
        _f("CloseDate", "date", "Close Date", nillable=False),
        _f("Amount", "currency", "Amount", scale=2),
        _f("Probability", "percent", "Probability (%)", precision=3, scale=0),
        _f(
            "Type",
            "picklist",
            "Opportunity Type",
            length=255,
            picklist=["Existing Business", "New Business"],
        ),
        _f("LeadSource", "picklist", "Lead Source", length=255, picklist=LEAD_SOURCES),
        _f("Description", "textarea", "Description", length=32000),
        _ro("IsClosed", "boolean", "Closed", calculated=True),
        _ro("IsWon", "boolean", "Won", calculated=True),
    ]
    user = [
        *_system_fields(owner=False),
        _f(
            "Username", "string", "Username", length=80, nillable=False, unique=True, id_lookup=True
        ),
        _f("LastName", "string", "Last Name", length=80, nillable=False, compound="Name"),
        _f("FirstName", "string", "First Name", length=40, compound="Name"),
        _ro("Name", "string", "Full Name", length=121, name_field=True, nillable=False),
        _f("Email", "email", "Email", length=128, nillable=False),
        _f("Alias", "string", "Alias", length=8, nillable=False),
        _f("IsActive", "boolean", "Active"),
        _f(
            "TimeZoneSidKey",
            "picklist",
            "Time Zone",
            length=40,
            nillable=False,
            picklist=["Europe/Berlin", "America/Los_Angeles", "GMT"],
            restricted=True,
        ),
    ]
    group = [
        _ro("Id", "id", "Group ID", nillable=False, defaulted=True, id_lookup=True),
        _ro("Name", "string", "Name", length=40, name_field=True),
        _ro("DeveloperName", "string", "Developer Name", length=80),
        _ro(
            "Type",
            "picklist",
            "Type",
            length=40,
            nillable=False,
            picklist=["Queue", "Regular", "Role", "Organization"],
        ),
        _ro("CreatedDate", "datetime", "Created Date", nillable=False, defaulted=True),
        _ro("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, defaulted=True),
        _ro("SystemModstamp", "datetime", "System Modstamp", nillable=False, defaulted=True),
    ]
    specs = [
        ("Lead", "00Q", "Lead", "Leads", lead),
        ("Contact", "003", "Contact", "Contacts", contact),
        ("Account", "001", "Account", "Accounts", account),
        ("Task", "00T", "Task", "Tasks", task),
        ("Opportunity", "006", "Opportunity", "Opportunities", opportunity),
        ("User", "005", "User", "Users", user),
        # Queues and public groups: what a polymorphic OwnerId can also name. None exist.
        ("Group", "00G", "Group", "Groups", group),
    ]
    objects = {}
    for name, prefix, label, plural, fields in specs:
        obj = SObject(name, prefix, label, plural, {f.name: f for f in fields})
        if name in {"User", "Group"}:
            obj.createable = obj.updateable = obj.deletable = False
        objects[name] = obj
    return objects


class SchemaError(ValueError):
    """A schema file names an unknown type or is malformed."""


_TYPE_MAP = {
    "text": "string",
    "textarea": "textarea",
    "longtextarea": "textarea",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "number": "double",
    "currency": "currency",
    "percent": "percent",
    "checkbox": "boolean",
    "date": "date",
    "datetime": "datetime",
    "picklist": "picklist",
    "lookup": "reference",
}


def custom_field(obj: str, name: str, spec: dict[str, Any]) -> Field:
    """Build a custom field from its schema.yml spec (``{type: Text, length: 80, ...}``)."""
    if not isinstance(spec, dict):
        raise SchemaError(f"{obj}.{name}: a field spec is a mapping such as {{type: Text}}.")
    return _custom_field(obj, name, spec)


def _custom_field(obj: str, name: str, spec: dict[str, Any]) -> Field:
    if not name.endswith("__c"):
        raise SchemaError(f"{obj}.{name}: custom field names must end in __c.")
    kind = str(spec.get("type", "")).replace(" ", "").lower()
    if kind not in _TYPE_MAP:
        raise SchemaError(
            f"{obj}.{name}: unknown type {spec.get('type')!r}; use one of "
            + ", ".join(sorted(_TYPE_MAP))
        )
    type_ = _TYPE_MAP[kind]
    kw: dict[str, Any] = {
        "custom": True,
        "external_id": bool(spec.get("externalId", False)),
        "unique": bool(spec.get("unique", False)),
        "case_sensitive": bool(spec.get("caseSensitive", False)),
        "nillable": not spec.get("required", False),
    }
    if kw["external_id"]:
        kw["id_lookup"] = True
    if type_ in {"string", "email", "phone", "url"}:
        kw["length"] = int(spec.get("length", 255 if type_ != "phone" else 40))
        if type_ == "email":
            kw["length"] = int(spec.get("length", 80))
    elif type_ == "textarea":
        kw["length"] = int(spec.get("length", 255 if kind == "textarea" else 32768))
    elif type_ in {"double", "currency", "percent"}:
        kw["precision"] = int(spec.get("precision", 18))
        kw["scale"] = int(spec.get("scale", 0))
    elif type_ == "picklist":
        kw["picklist"] = [str(v) for v in spec.get("values", [])]
        kw["restricted"] = bool(spec.get("restricted", False))
        kw["length"] = 255
    elif type_ == "reference":
        target = spec.get("referenceTo")
        if not target:
            raise SchemaError(f"{obj}.{name}: a Lookup needs referenceTo.")
        kw["reference_to"] = [target] if isinstance(target, str) else list(target)
        kw["relationship_name"] = name[:-3] + "__r"
    return _f(name, type_, str(spec.get("label", name[:-3].replace("_", " "))), **kw)


def load_schema(extra: list[Path] | None = None) -> dict[str, SObject]:
    """Standard objects plus the default custom fields plus any extra schema files."""
    objects = standard_objects()
    custom_prefix = 0
    for path in [DEFAULT_SCHEMA, *(extra or [])]:
        try:
            doc = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SchemaError(f"cannot read schema file {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise SchemaError(f"{path}: expected a mapping of object names to fields.")
        for obj_name, fields in doc.items():
            if obj_name not in objects:
                if not str(obj_name).endswith("__c"):
                    raise SchemaError(
                        f"{path}: unknown standard object {obj_name!r}; custom objects must "
                        "end in __c."
                    )
                custom_prefix += 1
                base = [
                    *_system_fields(queues=True),
                    _f("Name", "string", "Name", length=80, name_field=True, nillable=True),
                ]
                label = str(obj_name)[:-3].replace("_", " ")
                objects[obj_name] = SObject(
                    obj_name,
                    f"a0{custom_prefix:X}",
                    label,
                    label + "s",
                    {f.name: f for f in base},
                    custom=True,
                )
            obj = objects[obj_name]
            obj.index()
            for fname, spec in (fields or {}).items():
                _apply_file_spec(obj, str(fname), spec, path)
                obj.index()
    for obj in objects.values():
        obj.index()
    return objects


def _apply_file_spec(obj: SObject, name: str, spec: Any, path: Path) -> None:
    """One entry of a schema file: add/replace a custom field, or remove it (null).

    Or set the values of a standard picklist (``LeadSource: {values: [Web], restricted: true}``).
    """
    existing = obj.field(name)
    if spec is None:
        if existing is None:
            raise SchemaError(f"{path}: {obj.name}.{name} does not exist, so it cannot be removed.")
        remove_field(obj, existing.name)
        return
    if existing is not None and not existing.custom:
        if not isinstance(spec, dict) or not set(spec) <= {"values", "restricted"}:
            raise SchemaError(
                f"{path}: {obj.name}.{name} is a standard field; a schema file can only set a "
                "standard picklist's values and restricted flag."
            )
        set_picklist(existing, spec.get("values"), spec.get("restricted"), obj.name)
        return
    obj.fields[name] = custom_field(obj.name, name, spec)


def split_field_ref(text: str) -> tuple[str, str]:
    """``Lead.Intercom_Qualification__c`` -> ("Lead", "Intercom_Qualification__c")."""
    obj, dot, name = text.strip().partition(".")
    if not dot or not obj or not name or "." in name:
        raise SchemaError(
            f"{text!r} does not name a field; write Object.Field, e.g. "
            "Lead.Intercom_Qualification__c"
        )
    return obj, name


def find_field(objects: dict[str, SObject], obj_name: str, name: str) -> tuple[SObject, Field]:
    """The sObject and field named (case-insensitively), or SchemaError."""
    obj = objects.get(obj_name) or next(
        (o for o in objects.values() if o.name.lower() == obj_name.lower()), None
    )
    if obj is None:
        raise SchemaError(f"unknown sObject {obj_name!r}; known: {', '.join(sorted(objects))}")
    fld = obj.field(name)
    if fld is None:
        raise SchemaError(f"{obj.name} has no field {name!r}")
    return obj, fld


def remove_field(obj: SObject, name: str) -> Field:
    """Delete a custom field from an sObject's metadata (standard fields cannot be deleted)."""
    fld = obj.field(name)
    if fld is None:
        raise SchemaError(f"{obj.name} has no field {name!r}")
    if not fld.custom:
        raise SchemaError(
            f"{obj.name}.{fld.name} is a standard field and Salesforce cannot delete standard "
            "fields; make it read-only instead (--read-only-field or PATCH "
            f"/_emulator/fields/{obj.name}/{fld.name})"
        )
    del obj.fields[fld.name]
    obj.index()
    return fld


def set_picklist(fld: Field, values: Any, restricted: Any, obj_name: str = "") -> None:
    """Replace a picklist's values and, when given, its restricted flag."""
    if fld.type not in {"picklist", "combobox"}:
        raise SchemaError(f"{obj_name}.{fld.name} is a {fld.type} field, not a picklist")
    if values is not None:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{obj_name}.{fld.name}: values must be a list of strings")
        fld.picklist = tuple(values)
        fld.picklist_lower = {v.lower(): v for v in fld.picklist}
    if restricted is not None:
        fld.restricted = bool(restricted)


def apply_overrides(
    objects: dict[str, SObject],
    drop_fields: list[str] | None = None,
    picklists: list[str] | None = None,
    restricted_picklists: list[str] | None = None,
    read_only_fields: list[str] | None = None,
) -> None:
    """The start-up flags that misconfigure the org on purpose (after the schema files)."""
    for ref in drop_fields or []:
        obj, fld = find_field(objects, *split_field_ref(ref))
        remove_field(obj, fld.name)
    for ref, restricted in [(r, None) for r in picklists or []] + [
        (r, True) for r in restricted_picklists or []
    ]:
        target, eq, values = ref.partition("=")
        if not eq:
            raise SchemaError(
                f"{ref!r}: give the values after '=', e.g. Lead.LeadSource=Web,Phone Inquiry"
            )
        obj, fld = find_field(objects, *split_field_ref(target))
        set_picklist(fld, [v.strip() for v in values.split(",") if v.strip()], restricted, obj.name)
    for ref in read_only_fields or []:
        obj, fld = find_field(objects, *split_field_ref(ref))
        if fld.name == "Id":
            raise SchemaError("Id is read-only already")
        fld.createable = fld.updateable = False
