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
        "diffrepro convert-inception --params " + PARAMS_FILE + " --log {log} --out {output.weights} --out-info {output.info}"


rule reference_features:
    """The features of one data set's real reference images on both metric backends (data set, split and
    resolution in each file's metadata), computed once for every evaluation of that data set's models."""
    input:
        code("reference_features"),
        data=lambda w: data_file(w.dataset),
        inception=INCEPTION,
        classifier=lambda w: classifier_file(w.dataset),
    output:
        expand("results/reference/{{dataset}}/{backend}.safetensors", backend=ALL_BACKENDS),
    wildcard_constraints:
        dataset="|".join(re.escape(d) for d in DATASETS),
    params:
        data=lambda w: config["datasets"][w.dataset],
        split=config["evaluation"]["reference_split"],
        images=config["evaluation"]["reference_images"],
        batch_size=config["evaluation"]["batch_size"],
        out_dir=lambda w: reference_dir(w.dataset),
    log:
        "logs/reference_features/{dataset}.log",
    benchmark:
        "benchmarks/reference_features/{dataset}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: workflow.cores
    resources:
        mem_mb=6000,
    shell:
        "diffrepro reference-features --params " + PARAMS_FILE + " --log {log} --data {input.data} "
        "--inception {input.inception} --classifier {input.classifier} --out-dir {params.out_dir}"
