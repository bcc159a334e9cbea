# Directly Denoising Diffusion Models (Zhang et al. 2024): one DDDM per loss metric d (the ablation), each
# trained with its memory-mapped x_bar store, sampled with every NFE of dddm.sample.steps.
rule train_dddm:
    """Train one DDDM run (resumes from checkpoints, x_bar store included)."""
    input:
        code("train_dddm"),
        data=model_data_file("dddm"),
    output:
        weights="models/dddm/{run}/ema.safetensors",
        loss="results/train/dddm/{run}/loss.csv",
        summary="results/train/dddm/{run}/summary.json",
    params:
        seed=config["seed"],
        dddm={k: config["dddm"][k] for k in ("timesteps", "schedule", "unet", "train")},
        run=lambda w: config["dddm"]["runs"][w.run],
        checkpoints=lambda w: f"checkpoints/dddm/{w.run}",
    wildcard_constraints:
        run="|".join(re.escape(r) for r in DDDM_RUNS),
    log:
        "logs/train_dddm/{run}.log",
    benchmark:
        "benchmarks/train_dddm/{run}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro train-dddm --params " + PARAMS_FILE + " --log {log} --run {wildcards.run} --data {input.data} "
        "--checkpoint-dir {params.checkpoints} --weights {output.weights} --loss-csv {output.loss} "
        "--summary {output.summary}"


rule sample_dddm:
    """Samples of one DDDM run with 1, 2, ..., N steps from the same x_T."""
    input:
        code("sample_dddm"),
        weights="models/dddm/{run}/ema.safetensors",
    output:
        samples="results/samples/dddm/{run}.safetensors",
        grid=report_samples("results/figures/samples_dddm_{run}.png", "samples_dddm", STUDIES["dddm"], "{run}"),
    params:
        seed=config["seed"],
        dddm={k: config["dddm"][k] for k in ("timesteps", "schedule", "unet", "sample")},
        run=lambda w: config["dddm"]["runs"][w.run],
    wildcard_constraints:
        run="|".join(re.escape(r) for r in DDDM_RUNS),
    log:
        "logs/sample_dddm/{run}.log",
    benchmark:
        "benchmarks/sample_dddm/{run}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro sample-dddm --params " + PARAMS_FILE + " --log {log} --run {wildcards.run} --weights {input.weights} "
        "--out {output.samples} --grid {output.grid}"


rule evaluate_dddm:
    """FID, KID, precision/recall and the classifier score of one run per NFE."""
    input:
        code("evaluate_dddm"),
        samples="results/samples/dddm/{run}.safetensors",
        classifier=metric_inputs("dddm")["classifier"],
        inception=INCEPTION,
        references=metric_inputs("dddm")["references"],
    output:
        "results/metrics/dddm/{run}.json",
    params:
        evaluation=config["evaluation"],
        references=references_param("dddm"),
        run=lambda w: config["dddm"]["runs"][w.run],
        main=config["dddm"]["main"],
    wildcard_constraints:
        run="|".join(re.escape(r) for r in DDDM_RUNS),
    log:
        "logs/evaluate_dddm/{run}.log",
    benchmark:
        "benchmarks/evaluate_dddm/{run}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
    shell:
        "diffrepro evaluate-dddm --params " + PARAMS_FILE + " --log {log} --run {wildcards.run} --samples {input.samples} "
        "--classifier {input.classifier} --inception {input.inception} --references {params.references} --out {output}"


rule dddm_tables:
    """The DDDM table (Zhang et al. 2024 Table 1 layout) and the loss-metric ablation (CSV + figure)."""
    input:
        code("dddm_tables"),
        metrics=expand("results/metrics/dddm/{run}.json", run=DDDM_RUNS),
    output:
        md=report_table("results/tables/dddm_table1.md", "dddm_table1", "dddm_table1"),
        csv="results/tables/dddm_table1.csv",
        tex="results/tables/dddm_table1.tex",
        ablation_csv="results/analysis/dddm_ablation.csv",
        ablation_png=report_figure("results/figures/dddm_ablation.png", "dddm_ablation", "dddm", "dddm_ablation (Fig 2)"),
        ablation_svg="results/figures/dddm_ablation.svg",
    params:
        main=config["dddm"]["main"],
    log:
        "logs/dddm_tables.log",
    benchmark:
        "benchmarks/dddm_tables.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "diffrepro dddm-tables --params " + PARAMS_FILE + " --log {log} --metrics-dir results/metrics/dddm "
        "--out-md {output.md} --out-csv {output.csv} --out-tex {output.tex} --ablation-csv {output.ablation_csv} "
        "--ablation-png {output.ablation_png} --ablation-svg {output.ablation_svg}"
