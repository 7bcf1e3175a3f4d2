"""Lightning callbacks of inr_bench."""

from inr_bench.callbacks.evaluation import EvaluationCallback

__all__ = ["EvaluationCallback"]
