rule evaluate:
    """FID, KID, k-NN precision/recall and the classifier-logit score of one model's samples."""
    input:
        code("evaluate"),
        samples="results/samples/{model}.safetensors",
        data=DATA,
        classifier=CLASSIFIER,
    output:
        "results/metrics/ddgm/{model}.json",
    params:
        evaluation=config["evaluation"],
        model=lambda w: model_section(w.model, "objective", "schedule", "timesteps", "paper_row"),
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
        "diffrepro evaluate --params params.yaml --log {log} "
        "--model {wildcards.model} --samples {input.samples} --data {input.data} "
        "--classifier {input.classifier} --out {output}"
