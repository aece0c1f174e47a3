"""``python -m emulators``: the ``emulator`` command."""

from emulators.cli import main

raise SystemExit(main())
