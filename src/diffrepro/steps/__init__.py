"""One module per DAG step.  Each defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args)``; ``diffrepro <NAME>`` runs it with explicit input and output paths, so the Snakemake
rules and the DVC stages execute identical commands."""

from . import evaluate, evaluate_snapshots, nll, prepare_data, sample, table, train_classifier, train_ddgm

STEPS = [prepare_data, train_classifier, train_ddgm, sample, evaluate, evaluate_snapshots, nll, table]
