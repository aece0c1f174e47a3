"""What both emulators share, written once: the ``/_emulator/`` admin surface and its plumbing.

Each emulator is a service in getmoto/moto's shape: its models (state and storage), its
responses (the handlers) and its routes (Starlette ``Route`` tables). This package holds the
rest: the request log and counters (:mod:`requestlog`), injected faults (:mod:`faults`), route
resolution over Starlette's router (:mod:`routing`), the shared admin routes (:mod:`admin`) and
the middleware that applies faults and counts every public request (:mod:`middleware`).

Nothing here knows Intercom or Salesforce; the services plug in through
:class:`emulators.core.admin.Service`.
"""
