"""A local, stateful emulator of the Intercom REST API (version 2.14 by default).

Serve it with ``emulator intercom --port P --data-dir D``; see ``emulators/docs/intercom.md``.
"""
