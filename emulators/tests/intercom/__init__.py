"""Tests of the Intercom emulator (a package, so pytest names them `intercom.*`)."""
