"""Speed and memory, measured against a baseline in the same run: `throughput` (one training
step: eager, default and the matrix-product floor), `batched_speed` (K signals at once against
K fits one after another) and `model_table` (every model on one image)."""
