"""The health namespace: whether this instance can serve requests."""
