rule table:
    """One of the studies' tables, beside the published values."""
    input:
        code("table"),
        metrics=per_model("results/metrics/ddgm/{model}.json"),
        nll=per_model("results/metrics/nll/{model}.json"),
        snapshots=per_model("results/metrics/snapshots/{model}.json"),
        train=per_model("results/train/{model}/summary.json"),
    output:
        md=report_table("results/tables/{table}.md", "table"),
        csv="results/tables/{table}.csv",
        tex="results/tables/{table}.tex",
    wildcard_constraints:
        table="|".join(TABLES),
    params:
        datasets={name: d["dataset"] for name, d in config["datasets"].items()},
        tables={name: {"data": m["data"], "tables": m["tables"]} for name, m in config["models"].items()},
    log:
        "logs/table/{table}.log",
    benchmark:
        "benchmarks/table/{table}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=500,
    shell:
        "diffrepro table --params " + PARAMS_FILE + " --log {log} --name {wildcards.table} "
        "--metrics-dir results/metrics/ddgm --nll-dir results/metrics/nll "
        "--snapshots-dir results/metrics/snapshots --train-dir results/train "
        "--out-md {output.md} --out-csv {output.csv} --out-tex {output.tex}"
