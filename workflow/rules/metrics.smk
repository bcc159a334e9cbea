rule convert_inception:
    """The standard FID Inception weights, converted once into torch-fidelity's layout (safetensors),
    with the source's and the output's SHA-256 and a self-check of the conversion."""
    input:
        code("convert_inception"),
    output:
        weights=INCEPTION,
        info="results/metrics/inception.json",
    params:
        inception=config["evaluation"]["inception"],
    log:
        "logs/convert_inception.log",
    benchmark:
        "benchmarks/convert_inception.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "diffrepro convert-inception --params params.yaml --log {log} --out {output.weights} --out-info {output.info}"


rule reference_features:
    """One metric backend's features of the real reference images (data set, split, resolution in the
    file's metadata), computed once for every evaluation."""
    input:
        code("reference_features"),
        data=DATA,
        weights=lambda w: BACKEND_WEIGHTS[w.backend],
    output:
        REFERENCE_DIR + "/{backend}.safetensors",
    wildcard_constraints:
        backend="|".join(BACKEND_WEIGHTS),
    params:
        data=config["data"],
        split=config["evaluation"]["reference_split"],
        images=config["evaluation"]["reference_images"],
        batch_size=config["evaluation"]["batch_size"],
    log:
        "logs/reference_features/{backend}.log",
    benchmark:
        "benchmarks/reference_features/{backend}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: workflow.cores
    resources:
        mem_mb=6000,
    shell:
        "diffrepro reference-features --params params.yaml --log {log} --backend {wildcards.backend} "
        "--data {input.data} --weights {input.weights} --out {output}"
