"""Trained-weights files, one module per model kind: the metadata a training step stamps on the weights it
writes, and the checks that load them back against the parameter file (weights trained with other settings
are refused with a message naming the file and the setting)."""
