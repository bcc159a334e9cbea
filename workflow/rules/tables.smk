rule table1:
    """Deja et al. Table 1 rows this pipeline fills, beside the published values."""
    input:
        code("table1"),
        metrics=expand("results/metrics/ddgm/{model}.json", model=MODELS),
    output:
        md=report("results/tables/table1.md", caption="../report/table1.rst", category="Tables"),
        csv="results/tables/table1.csv",
    params:
        dataset=config["data"]["dataset"],
        metrics_dir=lambda w, input: os.path.dirname(input.metrics[0]),
    log:
        "logs/table1.log",
    benchmark:
        "benchmarks/table1.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=500,
    shell:
        "diffrepro table1 --params params.yaml --log {log} "
        "--metrics-dir {params.metrics_dir} --out-md {output.md} --out-csv {output.csv}"
