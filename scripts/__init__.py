"""Developer scripts and the test support shared by tests/, the packages' tests and benchmarks/.

Run those that import their siblings from the repository root as modules
(`.venv/bin/python -m scripts.demo`); the others also run as files.
"""
