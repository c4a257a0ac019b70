"""The error class for faults the user can fix: bad input, a wrong table, a config mistake.

Its message names the file or setting and the fix, in one line. The workflow's scripts
print that line alone (the job's log keeps the traceback); any other exception is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """A fault of the input or the config that the user can fix; the message says how."""


class TaskError(UserError, ValueError):
    """A task does not fit its dataset: its target column, folds or splits."""
