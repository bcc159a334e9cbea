"""Evaluation: sample-quality metrics (FID, KID, k-NN and distribution precision/recall, sFID, an Inception-style
score) of uint8 samples on every metric backend (the FID Inception and the in-pipeline classifier), against
reference features computed once per data set (:class:`~diffrepro.evaluation.evaluator.Evaluator`).

The package imports nothing: each step imports the modules it uses (torch-fidelity only where it is needed).
"""
