"""Errors the numeric core raises for bad input.

Every refusal a user can cause (a corrupt file, a wrong unit, a nonsense parameter) is an
:class:`AnalysisInputError`; the command line turns it into a one-line message and exit code 2,
and the jobs app into a failed job with that message. Anything else is a bug.
"""


class AnalysisInputError(ValueError):
    """The input (file, array or parameter) cannot be analysed; the message says why."""
