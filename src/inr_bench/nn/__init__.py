"""Building blocks: damping functions, activations, encodings and the coordinate MLP."""
