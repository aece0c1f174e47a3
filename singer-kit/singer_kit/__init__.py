"""Small pieces the plugins of this project share, one module per idea.

- :mod:`singer_kit.progress`: progress-line wording and the thread that logs them.
- :mod:`singer_kit.summary`: the summary file a plugin leaves for the others of its pipeline.
- :mod:`singer_kit.pipe`: standard input read line by line without waiting blindly.
- :mod:`singer_kit.fatal`: the paragraph a run that stops on an error ends with.
- :mod:`singer_kit.env_config`: settings from environment variables, numbers as numbers.
- :mod:`singer_kit.writer`: a fast Singer message writer.
- :mod:`singer_kit.entry`: a plugin's console script, ending the process at once after success.
"""

__version__ = "0.1.0"
