"""Lightning callbacks of a run, in the order train() gives them: evaluation (metrics into the
record and the loggers), the return to the lowest-loss state (restore_best), the downstream
task, the pictures, metrics.json, the loggers' final results."""

from inr_bench.callbacks.evaluation import EvaluationCallback
from inr_bench.callbacks.logger_results import LoggerResultsCallback, finish_run
from inr_bench.callbacks.outputs import OutputsCallback
from inr_bench.callbacks.record import RecordCallback
from inr_bench.callbacks.restore_best import RestoreBestCallback
from inr_bench.callbacks.task import TaskCallback

__all__ = [
    "EvaluationCallback",
    "OutputsCallback",
    "RecordCallback",
    "RestoreBestCallback",
    "TaskCallback",
    "LoggerResultsCallback",
    "finish_run",
]
