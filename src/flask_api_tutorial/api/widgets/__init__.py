"""The widgets namespace: the resource the tokens protect (the tutorial's Parts 5-6)."""
