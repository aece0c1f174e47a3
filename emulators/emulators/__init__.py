"""Local, stateful emulators of the Intercom and Salesforce APIs.

This package is an independent implementation of the public contracts; it never imports the
plugins of this project (and they never import it).
"""
