"""The base of every error a step reports as a clear one-line message (bad parameters, missing or
corrupt data, a diverged training run); the CLI prints it and exits with status 1."""


class DiffreproError(Exception):
    """An expected failure whose message says what is wrong and how to fix it."""
