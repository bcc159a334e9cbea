rule train_classifier:
    """Train the small classifier whose penultimate features and logits are the first
    evaluation backend (registered as a torch-fidelity feature extractor)."""
    input:
        code("train_classifier"),
        data=DATA,
    output:
        weights=CLASSIFIER,
        metrics="results/metrics/classifier.json",
    params:
        seed=config["seed"],
        classifier=config["classifier"],
    log:
        "logs/train_classifier.log",
    benchmark:
        "benchmarks/train_classifier.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
    shell:
        "diffrepro train-classifier --params params.yaml --log {log} "
        "--data {input.data} --out {output.weights} --metrics {output.metrics}"
