"""Lightning callbacks of a run, in the order train() gives them: evaluation (metrics into the
record and the loggers), the downstream task, the pictures, metrics.json, W&B's summary."""

from inr_bench.callbacks.evaluation import EvaluationCallback
from inr_bench.callbacks.outputs import OutputsCallback
from inr_bench.callbacks.record import RecordCallback
from inr_bench.callbacks.task import TaskCallback
from inr_bench.callbacks.wandb_results import WandbResultsCallback, finish_run

__all__ = [
    "EvaluationCallback",
    "OutputsCallback",
    "RecordCallback",
    "TaskCallback",
    "WandbResultsCallback",
    "finish_run",
]
