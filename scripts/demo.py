"""`make demo`: the whole job against the local emulators, shown step by step.

Starts both emulators with a seeded Intercom workspace and a Salesforce org that already holds a
few Contacts, runs `meltano run intercom-to-salesforce`, prints what happened, simulates Intercom
activity, runs again (incremental), shows `meltano state get`, runs a third time to show that an
unchanged workspace costs no Salesforce writes, and stops the emulators. Exits non-zero on failure.
"""

from __future__ import annotations

import json
import shutil
import sys
import time

from scripts.pipeline import ROOT, Pipeline, RunResult, all_intercom_contacts, meltano_install

CONTACTS = 400
CONVERSATIONS = 200


def heading(text: str) -> None:
    """Print a section heading."""
    print(f"\n=== {text} ===", flush=True)


def report(pipe: Pipeline, result: RunResult) -> None:
    """Print what the run did to each Salesforce object."""
    objects = result.summary.get("objects", {})
    for sobject, counts in sorted(objects.items()):
        parts = ", ".join(
            f"{k} {counts.get(k, 0)}"
            for k in ("created", "updated", "unchanged", "waiting", "rejected")
        )
        print(f"  {sobject:<8} {parts}")
    print(
        f"  API calls: Intercom {result.intercom_calls}, Salesforce {result.salesforce_calls}"
        f" ({', '.join(f'{k}: {v}' for k, v in sorted(result.salesforce_by_endpoint.items()))})"
    )
    reasons = pipe.reject_reasons()
    if reasons:
        print("  Not written (cumulative reject files), by reason:")
        for reason, n in reasons.most_common(8):
            print(f"    {n:>5}  {reason}")


def seed_salesforce(pipe: Pipeline) -> None:
    """Give the org what real orgs have: Contacts that are already known people."""
    contacts = all_intercom_contacts(pipe)
    qualified = [
        c
        for c in contacts
        if c.get("email")
        and "@" in c["email"]
        and (c.get("custom_attributes") or {}).get("qualification") == "hand_to_sales"
    ]
    existing = [
        {
            "LastName": (c.get("name") or "Existing").split()[-1][:80] or "Existing",
            "FirstName": "Known",
            "Email": c["email"].strip().lower(),
        }
        for c in qualified[:3]
    ]
    if existing:
        pipe.salesforce.admin("POST", "records/Contact", {"records": existing})
    print(
        f"  Salesforce org starts with {len(existing)} Contacts whose emails Intercom leads share"
    )


def main() -> int:
    """Run the demo; the exit status."""
    workdir = ROOT / ".demo"
    shutil.rmtree(workdir, ignore_errors=True)
    heading("Installing the Meltano plugins (editable, from this repo)")
    meltano_install()
    with Pipeline(workdir) as pipe:
        heading("Emulators")
        seeded = pipe.intercom.admin(
            "POST", "seed", {"contacts": CONTACTS, "conversations": CONVERSATIONS, "seed": 7}
        )
        print(f"  Intercom  {pipe.intercom.url}  seeded: {json.dumps(seeded)}")
        print(f"  Salesforce {pipe.salesforce.url}")
        seed_salesforce(pipe)

        heading("Run 1: meltano run intercom-to-salesforce (full sync)")
        first = pipe.run()
        report(pipe, first)

        heading("Salesforce now holds")
        for row in pipe.soql("SELECT COUNT() FROM Lead WHERE LeadSource = 'Intercom'") or []:
            print(f"  {row}")
        leads = pipe.soql(
            "SELECT FirstName, LastName, Company, Email, Intercom_Engagement_Score__c "
            "FROM Lead WHERE LeadSource = 'Intercom' ORDER BY Intercom_Engagement_Score__c DESC "
            "LIMIT 5"
        )
        for lead in leads:
            lead.pop("attributes", None)
            print(f"  Lead {json.dumps(lead, ensure_ascii=False)}")
        tasks = pipe.soql("SELECT Subject, WhoId, Status FROM Task ORDER BY Subject LIMIT 3")
        for task in tasks:
            task.pop("attributes", None)
            print(f"  Task {json.dumps(task, ensure_ascii=False)}")

        heading("Simulating Intercom activity (updates, replies, closes, qualifications)")
        touched = pipe.intercom.admin("POST", "simulate", {"steps": 40, "seed": 11})
        # The simulated activity all lands in the current second. A sync that starts in that
        # same second cannot tell whether more changes follow within it, so it would emit those
        # records again next time (see the tap's README, "What a run re-reads"). Real activity
        # is spread out; let the second end, as it would have.
        time.sleep(2)
        print(
            f"  touched {len(touched.get('contacts', []))} contacts and "
            f"{len(touched.get('conversations', []))} conversations"
        )

        heading("Run 2: incremental")
        second = pipe.run()
        report(pipe, second)

        heading("meltano state get")
        print(json.dumps(_readable(pipe.state()), indent=2)[:3000])

        heading("Run 3: nothing changed in Intercom")
        third = pipe.run()
        report(pipe, third)
        print(
            f"  Salesforce write calls in run 3: {third.salesforce_write_calls}, "
            f"records written: {sum(third.salesforce_record_writes.values())}"
        )
        if third.salesforce_write_calls or third.salesforce_record_writes:
            print(f"  unexpected writes: {third.salesforce_record_writes}")
            return 1
    heading("Done: emulators stopped; outputs in .demo/output")
    return 0


def _readable(state: object) -> object:
    """The state with the target's compressed waiting records shown by their size."""
    if isinstance(state, dict):
        return {
            k: (
                f"<{len(v):,} characters: the waiting records, compressed>"
                if k == "waiting" and isinstance(v, str) and len(v) > 60
                else _readable(v)
            )
            for k, v in state.items()
        }
    return state


if __name__ == "__main__":
    sys.exit(main())
