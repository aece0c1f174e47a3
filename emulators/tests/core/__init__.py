"""Tests of what both emulators share: the admin surface and the package's import graph."""
