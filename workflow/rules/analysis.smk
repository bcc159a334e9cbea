rule snr:
    """SNR of the forward process per schedule, averaged over the training images (Deja et al. Fig 1, 8)."""
    input:
        code("snr"),
        data=DATA,
    output:
        csv="results/analysis/snr.csv",
        summary="results/analysis/snr.json",
        png=report("results/figures/snr.png", caption="../report/snr.rst", category="Analyses"),
    params:
        snr=config["analysis"]["snr"],
    log:
        "logs/snr.log",
    benchmark:
        "benchmarks/snr.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "diffrepro snr --params params.yaml --log {log} --data {input.data} "
        "--out-csv {output.csv} --out-json {output.summary} --out-png {output.png}"
