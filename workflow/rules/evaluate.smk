rule evaluate:
    """FID, KID, k-NN precision/recall and the classifier-logit score of one model's samples."""
    input:
        code("evaluate"),
        samples="results/samples/{model}.safetensors",
        classifier=metric_inputs(lambda w: w.model)["classifier"],
        inception=INCEPTION,
        references=metric_inputs(lambda w: w.model)["references"],
    output:
        "results/metrics/ddgm/{model}.json",
    params:
        evaluation=config["evaluation"],
        references=references_param(lambda w: w.model),
        model=lambda w: model_section(w.model, *SAMPLE_KEYS),
    log:
        "logs/evaluate/{model}.log",
    benchmark:
        "benchmarks/evaluate/{model}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
    shell:
        "diffrepro evaluate --params " + PARAMS_FILE + " --log {log} "
        "--model {wildcards.model} --samples {input.samples} "
        "--classifier {input.classifier} --inception {input.inception} --references {params.references} --out {output}"


rule evaluate_snapshots:
    """Training-steps study: sample and evaluate the EMA weights kept during training."""
    input:
        code("evaluate_snapshots"),
        snapshots="models/{model}/snapshots",
        classifier=metric_inputs(lambda w: w.model)["classifier"],
        inception=INCEPTION,
        references=metric_inputs(lambda w: w.model)["references"],
    output:
        "results/metrics/snapshots/{model}.json",
    params:
        seed=config["seed"],
        evaluation=config["evaluation"],
        references=references_param(lambda w: w.model),
        model=lambda w: model_section(w.model, *SAMPLE_KEYS),
    log:
        "logs/evaluate_snapshots/{model}.log",
    benchmark:
        "benchmarks/evaluate_snapshots/{model}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro evaluate-snapshots --params " + PARAMS_FILE + " --log {log} "
        "--model {wildcards.model} --snapshots {input.snapshots} "
        "--classifier {input.classifier} --inception {input.inception} --references {params.references} --out {output}"
