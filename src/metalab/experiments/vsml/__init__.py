"""VS-ML experiments: `vsml` (learned rules across data families) and `vsml-backprop`."""
