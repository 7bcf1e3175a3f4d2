"""User-facing errors: raised for bad input, printed without a traceback by the entry points."""


class InrBenchError(Exception):
    """A problem the user can fix (bad path, bad option, bad file). The message says how."""


class NonFiniteLossError(InrBenchError):
    """The training loss became NaN or infinite; the run stops and keeps its last good state."""
