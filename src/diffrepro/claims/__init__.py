"""Which of the studies' findings reproduce: the registry of findings (``workflow/claims.yaml``), the estimates
of the quantities they compare (from the metrics files) and the verdict on each."""
