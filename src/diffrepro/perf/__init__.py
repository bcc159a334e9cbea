"""Performance tooling outside the DAG: the throughput benchmark (``diffrepro bench``) and the GPU-hours
table (``diffrepro gpu-hours``). No DAG step imports this package, so changing it reruns nothing."""
