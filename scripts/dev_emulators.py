"""Run both emulators for the `dev` environment until Ctrl-C, for `meltano run` by hand.

    python scripts/dev_emulators.py [--contacts 400] [--conversations 200] [--keep]
        [--intercom-port 8765] [--salesforce-port 8766] [--data-dir .demo]

Data lives in DATA_DIR/intercom and DATA_DIR/salesforce (the dev environment trusts
.demo/salesforce/ca.pem). Without --keep the Intercom workspace is seeded afresh.

The dev environment in meltano.yml names the default ports and data folder. With other ones,
this script prints the variables that point Meltano at them (the plugins' own setting
variables, which Meltano ranks above an environment's config): export them in the shell that
runs `meltano`, or `eval "$(python scripts/dev_emulators.py --print-env --intercom-port ...)"`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from emulators.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent
#: What the dev environment in meltano.yml points at.
DEV_INTERCOM_PORT = 8765
DEV_SALESFORCE_PORT = 8766
DEV_DATA_DIR = ROOT / ".demo"


def dev_env(intercom_port: int, salesforce_port: int, data_dir: Path) -> dict[str, str]:
    """The variables that point the dev environment at these emulators.

    Only those that differ from meltano.yml's values (empty with the defaults).
    """
    env: dict[str, str] = {}
    if intercom_port != DEV_INTERCOM_PORT:
        env["TAP_INTERCOM_EVENTS_API_URL"] = f"http://127.0.0.1:{intercom_port}"
    if salesforce_port != DEV_SALESFORCE_PORT:
        url = f"https://127.0.0.1:{salesforce_port}"
        env["TARGET_SALESFORCE_LEADS_LOGIN_URL"] = url
        env["TARGET_SALESFORCE_LEADS_INSTANCE_URL"] = url
    if data_dir.resolve() != DEV_DATA_DIR.resolve():
        ca = (data_dir / "salesforce" / "ca.pem").resolve()
        env["TARGET_SALESFORCE_LEADS_CA_BUNDLE"] = str(ca)
    return env


def exports(env: dict[str, str]) -> str:
    """Shell lines exporting the variables of env."""
    return "".join(f"export {name}={value}\n" for name, value in env.items())


def main() -> int:
    """Start the emulators, seeded, until interrupted; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=400)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep existing data, do not re-seed")
    parser.add_argument("--intercom-port", type=int, default=DEV_INTERCOM_PORT)
    parser.add_argument("--salesforce-port", type=int, default=DEV_SALESFORCE_PORT)
    parser.add_argument(
        "--data-dir", type=Path, default=DEV_DATA_DIR, help="folder of both emulators' data"
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="only print the `export` lines for these ports and data folder, start nothing",
    )
    args = parser.parse_args()
    env = dev_env(args.intercom_port, args.salesforce_port, args.data_dir)
    if args.print_env:
        sys.stdout.write(exports(env))
        return 0
    intercom = EmulatorProcess("intercom", args.data_dir / "intercom", port=args.intercom_port)
    salesforce = EmulatorProcess(
        "salesforce", args.data_dir / "salesforce", port=args.salesforce_port
    )
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
        if env:
            print("Not the dev environment's ports or data folder: in the shell running meltano,")
            print(exports(env), end="")
        print("Ready: `meltano run intercom-to-salesforce` in another shell. Ctrl-C stops.")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
