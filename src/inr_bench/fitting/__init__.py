"""Fitting: the one step (step.py), the LightningModule of a single fit (module.py) and K
signals at once (batched.py)."""
