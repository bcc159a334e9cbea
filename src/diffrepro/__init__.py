"""diffrepro: a reproducibility pipeline for diffusion-model research.

Pure core (no file I/O): ``diffusion`` (schedules, Gaussian diffusion math, samplers),
``models`` (networks).  I/O layer: ``data`` (data sets and processed artifacts),
``training`` (loops, EMA, checkpoints), ``evaluation`` (metrics), ``reporting`` (tables,
figures), ``steps`` (one module per DAG step) and ``cli`` (the ``diffrepro`` command).
"""

__version__ = "0.1.0"
