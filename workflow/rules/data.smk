rule prepare_data:
    """Resolve the data set offline first (data.root, Debian package, torchvision download),
    verify md5 sums and write the processed uint8 artifact."""
    input:
        code("prepare_data"),
    output:
        DATA,
    params:
        data=config["data"],
    log:
        "logs/prepare_data.log",
    benchmark:
        "benchmarks/prepare_data.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "diffrepro prepare-data --params params.yaml --log {log} --out {output}"
