rule train_classifier:
    """Train, on one data set, the small classifier whose penultimate features and logits are the
    second evaluation backend (registered as a torch-fidelity feature extractor)."""
    input:
        code("train_classifier"),
        data=lambda w: data_file(w.dataset),
    output:
        weights="models/classifier/{dataset}.safetensors",
        metrics="results/metrics/classifier/{dataset}.json",
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DATASETS),
    params:
        seed=config["seed"],
        classifier=config["classifier"],
    log:
        "logs/train_classifier/{dataset}.log",
    benchmark:
        "benchmarks/train_classifier/{dataset}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
    shell:
        "diffrepro train-classifier --params " + PARAMS_FILE + " --log {log} "
        "--data {input.data} --out {output.weights} --metrics {output.metrics}"
