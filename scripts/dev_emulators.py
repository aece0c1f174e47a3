"""Run both emulators on the `dev` environment's ports until Ctrl-C, for `meltano run` by hand.

    python scripts/dev_emulators.py [--contacts 400] [--conversations 200] [--keep]

Data lives in .demo/intercom and .demo/salesforce (the dev environment trusts
.demo/salesforce/ca.pem). Without --keep the Intercom workspace is seeded afresh.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from emulators.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=400)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep existing data, do not re-seed")
    args = parser.parse_args()
    intercom = EmulatorProcess("intercom", ROOT / ".demo" / "intercom", port=8765)
    salesforce = EmulatorProcess("salesforce", ROOT / ".demo" / "salesforce", port=8766)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with intercom, salesforce:
        if not args.keep:
            intercom.admin(
                "POST",
                "seed",
                {"contacts": args.contacts, "conversations": args.conversations, "seed": 7},
            )
        print(f"Intercom   {intercom.url}  (token emulator-token)")
        print(f"Salesforce {salesforce.url}  (CA {salesforce.ca_path})")
        print("Ready: `meltano run intercom-to-salesforce` in another shell. Ctrl-C stops.")
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
