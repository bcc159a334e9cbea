"""Training utilities (EMA, loops)."""
