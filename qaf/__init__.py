"""qaf: the monthly case-file audit cycle of a children's social care QA team.

The package is a library first; ``qaf.cli`` is a thin shell over it.
"""

__version__ = "0.1.0"
