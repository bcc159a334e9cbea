# Surrogate diffusion (coursework Sec. 3.2, Algorithm 4, Table 4.5): a surrogate (SNGAN, or a DDGM at
# a lower resolution: DDPM-16, trained by the DDGM rules) draws x~0, the base DDGM continues from t_mid.
rule train_gan:
    """Train one SNGAN (hinge loss, spectral normalisation; resumes from checkpoints)."""
    input:
        code("train_gan"),
        data=lambda w: model_data_file(w.gan),
    output:
        weights="models/{gan}/ema.safetensors",
        loss="results/train/gan/{gan}/loss.csv",
        summary="results/train/gan/{gan}/summary.json",
        grid=report_samples("results/figures/samples_gan_{gan}.png", "samples_gan", STUDIES["coursework"], "{gan} (GAN)"),
    params:
        seed=config["seed"],
        gan=lambda w: config["gans"][w.gan],
        checkpoints=lambda w: f"checkpoints/gan/{w.gan}",
    wildcard_constraints:
        gan="|".join(re.escape(g) for g in GANS) or "^$",
    log:
        "logs/train_gan/{gan}.log",
    benchmark:
        "benchmarks/train_gan/{gan}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro train-gan --params " + PARAMS_FILE + " --log {log} --gan {wildcards.gan} --data {input.data} "
        "--checkpoint-dir {params.checkpoints} --weights {output.weights} --loss-csv {output.loss} "
        "--summary {output.summary} --grid {output.grid}"


rule sample_surrogate:
    """Surrogate samples noised to every t_mid, then the base DDGM's reverse process from t_mid."""
    input:
        code("sample_surrogate"),
        surrogate="models/{name}/ema.safetensors",  # a GAN's EMA generator or a model's EMA weights
        base=f"models/{SURROGATE_BASE}/ema.safetensors",
    output:
        samples="results/samples/surrogate/{name}.safetensors",
        grid=report_samples("results/figures/samples_surrogate_{name}.png", "samples_surrogate", STUDIES["coursework"],
                            "{name} + " + SURROGATE_BASE + " (surrogate diffusion)"),
    params:
        seed=config["seed"],
        surrogate=config["surrogate"],
        source=lambda w: surrogate_section(w.name),
        base=lambda w: model_section(SURROGATE_BASE, *SAMPLE_KEYS),
    wildcard_constraints:
        name="|".join(re.escape(s) for s in SURROGATES) or "^$",
    log:
        "logs/sample_surrogate/{name}.log",
    benchmark:
        "benchmarks/sample_surrogate/{name}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro sample-surrogate --params " + PARAMS_FILE + " --log {log} --surrogate {wildcards.name} "
        "--surrogate-weights {input.surrogate} --base-weights {input.base} --out {output.samples} "
        "--grid {output.grid}"


rule evaluate_surrogate:
    """FID, KID, precision/recall and the classifier score per t_mid."""
    input:
        code("evaluate_surrogate"),
        samples="results/samples/surrogate/{name}.safetensors",
        classifier=metric_inputs(SURROGATE_BASE)["classifier"],
        inception=INCEPTION,
        references=metric_inputs(SURROGATE_BASE)["references"],
    output:
        "results/metrics/surrogate/{name}.json",
    params:
        evaluation=config["evaluation"],
        references=references_param(SURROGATE_BASE),
    wildcard_constraints:
        name="|".join(re.escape(s) for s in SURROGATES) or "^$",
    log:
        "logs/evaluate_surrogate/{name}.log",
    benchmark:
        "benchmarks/evaluate_surrogate/{name}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
    shell:
        "diffrepro evaluate-surrogate --params " + PARAMS_FILE + " --log {log} --samples {input.samples} "
        "--classifier {input.classifier} --inception {input.inception} --references {params.references} --out {output}"


rule surrogate_table:
    """Coursework Table 4.5 beside the published values, the plain DDGM as the reference row."""
    input:
        code("surrogate_table"),
        metrics=expand("results/metrics/surrogate/{name}.json", name=SURROGATES),
        base=f"results/metrics/ddgm/{SURROGATE_BASE}.json",
    output:
        md=report_table("results/tables/coursework_4_5.md", "coursework_4_5", "coursework_4_5"),
        csv="results/tables/coursework_4_5.csv",
        tex="results/tables/coursework_4_5.tex",
    params:
        surrogate=config["surrogate"],
    log:
        "logs/surrogate_table.log",
    benchmark:
        "benchmarks/surrogate_table.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "diffrepro surrogate-table --params " + PARAMS_FILE + " --log {log} --surrogate-metrics results/metrics/surrogate "
        "--base-metrics {input.base} --out-md {output.md} --out-csv {output.csv} --out-tex {output.tex}"
