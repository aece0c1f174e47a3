"""`emulator` console command: `emulator salesforce ...` and `emulator intercom ...`."""

from __future__ import annotations

import sys

USAGE = """usage: emulator {salesforce,intercom} [args...]

  emulator salesforce --port PORT --data-dir DIR [...]   serve the Salesforce emulator (HTTPS)
  emulator salesforce query --data-dir DIR "SELECT ..."  print records
  emulator intercom --port PORT --data-dir DIR [...]     serve the Intercom emulator (HTTP)
  emulator intercom seed --data-dir DIR --contacts N --conversations M [--seed S]
  emulator intercom simulate --data-dir DIR [...]

Run `emulator salesforce --help` or `emulator intercom --help` for every option."""


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the emulator named by the first argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    kind, rest = args[0], args[1:]
    if kind == "salesforce":
        from emulators.salesforce.cli import main as run
    elif kind == "intercom":
        from emulators.intercom.cli import main as run
    else:
        print(
            f"emulator: unknown emulator {kind!r}; choose 'salesforce' or 'intercom'.",
            file=sys.stderr,
        )
        return 2
    return int(run(rest) or 0)
