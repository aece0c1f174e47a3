"""The standard objects of the emulated org (Lead, Contact, Account, Task, ...) and their fields."""

from __future__ import annotations

from emulators.salesforce.metadata import (
    Field,
    SObject,
    new_field,
    read_only_field,
    system_fields,
)

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
        new_field(prefix + name, type_, f"{label} {text}".strip(), length=length, compound=compound)
        for name, type_, text, length in parts
    ]
    fields += [
        new_field(
            prefix + "Latitude",
            "double",
            f"{label} Latitude".strip(),
            precision=18,
            scale=15,
            compound=compound,
        ),
        new_field(
            prefix + "Longitude",
            "double",
            f"{label} Longitude".strip(),
            precision=18,
            scale=15,
            compound=compound,
        ),
        new_field(
            prefix + "GeocodeAccuracy",
            "picklist",
            f"{label} Geocode Accuracy".strip(),
            length=40,
            picklist=GEOCODE_ACCURACY,
            restricted=True,
            compound=compound,
        ),
        read_only_field(compound, "address", f"{label} Address".strip()),
    ]
    return fields


def _person_fields() -> list[Field]:
    # LastName, FirstName and Salutation are the components of the compound Name (MiddleName
    # and Suffix too, in orgs that enable them; this one does not).
    return [
        new_field("LastName", "string", "Last Name", length=80, nillable=False, compound="Name"),
        new_field("FirstName", "string", "First Name", length=40, compound="Name"),
        new_field(
            "Salutation", "picklist", "Salutation", length=40, picklist=SALUTATIONS, compound="Name"
        ),
        read_only_field("Name", "string", "Full Name", length=121, name_field=True, nillable=False),
        new_field("Title", "string", "Title", length=128),
        new_field("Phone", "phone", "Phone", length=40),
        new_field("MobilePhone", "phone", "Mobile Phone", length=40),
        new_field("Email", "email", "Email", length=80, id_lookup=True),
        new_field("LeadSource", "picklist", "Lead Source", length=255, picklist=LEAD_SOURCES),
        new_field("Description", "textarea", "Description", length=32000),
        new_field("HasOptedOutOfEmail", "boolean", "Email Opt Out"),
        read_only_field("LastActivityDate", "date", "Last Activity"),
    ]


def standard_objects() -> dict[str, SObject]:
    """Build the standard objects the emulator knows, without custom fields."""
    lead = [
        *system_fields(queues=True),
        *_person_fields(),
        new_field("Company", "string", "Company", length=255, nillable=False),
        *_address("", ""),
        new_field("Website", "url", "Website", length=255),
        new_field(
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
        new_field("Industry", "picklist", "Industry", length=255, picklist=INDUSTRIES),
        new_field("Rating", "picklist", "Rating", length=255, picklist=["Hot", "Warm", "Cold"]),
        new_field("AnnualRevenue", "currency", "Annual Revenue", scale=0),
        new_field("NumberOfEmployees", "int", "Employees", digits=8),
        read_only_field("IsConverted", "boolean", "Converted"),
        read_only_field("ConvertedDate", "date", "Converted Date"),
        read_only_field(
            "ConvertedAccountId",
            "reference",
            "Converted Account ID",
            reference_to=["Account"],
            relationship_name="ConvertedAccount",
        ),
        read_only_field(
            "ConvertedContactId",
            "reference",
            "Converted Contact ID",
            reference_to=["Contact"],
            relationship_name="ConvertedContact",
        ),
        read_only_field(
            "ConvertedOpportunityId",
            "reference",
            "Converted Opportunity ID",
            reference_to=["Opportunity"],
            relationship_name="ConvertedOpportunity",
        ),
        new_field("IsUnreadByOwner", "boolean", "Unread By Owner"),
    ]
    contact = [
        *system_fields(),
        *_person_fields(),
        new_field(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        new_field("Department", "string", "Department", length=80),
        new_field("Birthdate", "date", "Birthdate"),
        *_address("Mailing", "Mailing"),
        *_address("Other", "Other"),
    ]
    account = [
        *system_fields(),
        new_field("Name", "string", "Account Name", length=255, nillable=False, name_field=True),
        new_field(
            "Type",
            "picklist",
            "Account Type",
            length=255,
            picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
        ),
        new_field(
            "ParentId",
            "reference",
            "Parent Account ID",
            reference_to=["Account"],
            relationship_name="Parent",
        ),
        new_field("Industry", "picklist", "Industry", length=255, picklist=INDUSTRIES),
        new_field("Website", "url", "Website", length=255),
        new_field("Phone", "phone", "Account Phone", length=40),
        new_field("Description", "textarea", "Account Description", length=32000),
        new_field("NumberOfEmployees", "int", "Employees", digits=8),
        new_field("AnnualRevenue", "currency", "Annual Revenue", scale=0),
        *_address("Billing", "Billing"),
        *_address("Shipping", "Shipping"),
    ]
    task = [
        *system_fields(),
        new_field(
            "WhoId",
            "reference",
            "Name ID",
            reference_to=["Contact", "Lead"],
            relationship_name="Who",
        ),
        new_field(
            "WhatId",
            "reference",
            "Related To ID",
            reference_to=["Account", "Opportunity"],
            relationship_name="What",
        ),
        new_field(
            "Subject",
            "combobox",
            "Subject",
            length=255,
            picklist=["Call", "Send Letter", "Send Quote", "Other"],
        ),
        new_field("ActivityDate", "date", "Due Date Only"),
        new_field(
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
        new_field(
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
        read_only_field("IsHighPriority", "boolean", "High Priority", calculated=True),
        new_field("Description", "textarea", "Comments", length=32000),
        new_field(
            "Type", "picklist", "Type", length=255, picklist=["Call", "Email", "Meeting", "Other"]
        ),
        new_field(
            "TaskSubtype",
            "picklist",
            "Task Subtype",
            length=255,
            updateable=False,
            picklist=["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
        ),
        read_only_field("IsClosed", "boolean", "Closed", calculated=True),
        read_only_field(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        new_field("CallDurationInSeconds", "int", "Call Duration", digits=8),
        read_only_field("CompletedDateTime", "datetime", "Completed Date/Time"),
    ]
    opportunity = [
        *system_fields(),
        new_field("Name", "string", "Name", length=120, nillable=False, name_field=True),
        new_field(
            "AccountId",
            "reference",
            "Account ID",
            reference_to=["Account"],
            relationship_name="Account",
        ),
        new_field(
            "StageName",
            "picklist",
            "Stage",
            length=255,
            nillable=False,
            picklist=STAGES,
            restricted=True,
        ),
        new_field("CloseDate", "date", "Close Date", nillable=False),
        new_field("Amount", "currency", "Amount", scale=2),
        new_field("Probability", "percent", "Probability (%)", precision=3, scale=0),
        new_field(
            "Type",
            "picklist",
            "Opportunity Type",
            length=255,
            picklist=["Existing Business", "New Business"],
        ),
        new_field("LeadSource", "picklist", "Lead Source", length=255, picklist=LEAD_SOURCES),
        new_field("Description", "textarea", "Description", length=32000),
        read_only_field("IsClosed", "boolean", "Closed", calculated=True),
        read_only_field("IsWon", "boolean", "Won", calculated=True),
    ]
    user = [
        *system_fields(owner=False),
        new_field(
            "Username", "string", "Username", length=80, nillable=False, unique=True, id_lookup=True
        ),
        new_field("LastName", "string", "Last Name", length=80, nillable=False, compound="Name"),
        new_field("FirstName", "string", "First Name", length=40, compound="Name"),
        read_only_field("Name", "string", "Full Name", length=121, name_field=True, nillable=False),
        new_field("Email", "email", "Email", length=128, nillable=False),
        new_field("Alias", "string", "Alias", length=8, nillable=False),
        new_field("IsActive", "boolean", "Active"),
        new_field(
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
        read_only_field("Id", "id", "Group ID", nillable=False, defaulted=True, id_lookup=True),
        read_only_field("Name", "string", "Name", length=40, name_field=True),
        read_only_field("DeveloperName", "string", "Developer Name", length=80),
        read_only_field(
            "Type",
            "picklist",
            "Type",
            length=40,
            nillable=False,
            picklist=["Queue", "Regular", "Role", "Organization"],
        ),
        read_only_field("CreatedDate", "datetime", "Created Date", nillable=False, defaulted=True),
        read_only_field(
            "LastModifiedDate", "datetime", "Last Modified Date", nillable=False, defaulted=True
        ),
        read_only_field(
            "SystemModstamp", "datetime", "System Modstamp", nillable=False, defaulted=True
        ),
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
