rule prepare_data:
    """Resolve one data set offline first (its root, the Debian package, a torchvision download),
    verify md5 sums and write the processed uint8 artifact."""
    input:
        code("prepare_data"),
    output:
        "data/processed/{dataset}.safetensors",
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DATASETS),
    params:
        data=lambda w: config["datasets"][w.dataset],
    log:
        "logs/prepare_data/{dataset}.log",
    benchmark:
        "benchmarks/prepare_data/{dataset}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "diffrepro prepare-data --params " + PARAMS_FILE + " --log {log} --dataset {wildcards.dataset} --out {output}"
