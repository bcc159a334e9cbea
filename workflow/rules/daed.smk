# Post-hoc DAEDs (Deja et al. Sec. 6.2): one DAE per split point, fine-tuned from the generator DDGM;
# one generator pass serves every split point's sampling.  Joint DAEDs are models (kind: daed) and
# run through the DDGM rules.
rule train_dae:
    """Fine-tune the DAE of one split point from the generator's weights (resumes from checkpoints)."""
    input:
        code("train_dae"),
        generator=f"models/{GENERATOR}/ema.safetensors",
        data=model_data_file(GENERATOR),
    output:
        weights="models/daed_posthoc/{split}/ema.safetensors",
        loss="results/train/daed_posthoc/{split}/loss.csv",
        summary="results/train/daed_posthoc/{split}/summary.json",
    params:
        seed=config["seed"],
        posthoc=config["daed"]["posthoc"],
        generator=lambda w: model_section(GENERATOR, *TRAIN_KEYS),
        checkpoints=lambda w: f"checkpoints/daed_posthoc/{w.split}",
    wildcard_constraints:
        split="|".join(re.escape(s) for s in SPLITS),
    log:
        "logs/train_dae/{split}.log",
    benchmark:
        "benchmarks/train_dae/{split}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro train-dae --params " + PARAMS_FILE + " --log {log} --split {wildcards.split} "
        "--generator {input.generator} --data {input.data} --checkpoint-dir {params.checkpoints} "
        "--weights {output.weights} --loss-csv {output.loss} --summary {output.summary}"


rule sample_posthoc:
    """One generator pass; each split point's DAE maps the generator's x_s to x_0 in one call."""
    input:
        code("sample_posthoc"),
        generator=f"models/{GENERATOR}/ema.safetensors",
        daes=expand("models/daed_posthoc/{split}/ema.safetensors", split=SPLITS),
    output:
        directory("results/samples/daed_posthoc"),
    params:
        seed=config["seed"],
        posthoc=config["daed"]["posthoc"],
        generator=lambda w: model_section(GENERATOR, *SAMPLE_KEYS),
    log:
        "logs/sample_posthoc.log",
    benchmark:
        "benchmarks/sample_posthoc.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: max(1, workflow.cores // 2)
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro sample-posthoc --params " + PARAMS_FILE + " --log {log} --generator {input.generator} "
        "--daes models/daed_posthoc --out {output}"


rule evaluate_posthoc:
    """Metrics of every post-hoc DAED and FID vs log-SNR at the split point (Deja et al. Fig 4)."""
    input:
        code("evaluate_posthoc"),
        samples="results/samples/daed_posthoc",
        generator_metrics=f"results/metrics/ddgm/{GENERATOR}.json",
        classifier=metric_inputs(GENERATOR)["classifier"],
        inception=INCEPTION,
        references=metric_inputs(GENERATOR)["references"],
    output:
        metrics="results/metrics/daed_posthoc.json",
        csv="results/analysis/fid_vs_split.csv",
        png=report_figure("results/figures/fid_vs_split.png", "fid_vs_split", "deja", "fid_vs_split (Fig 4)"),
        svg="results/figures/fid_vs_split.svg",
    params:
        evaluation=config["evaluation"],
        references=references_param(GENERATOR),
        posthoc=config["daed"]["posthoc"],
    log:
        "logs/evaluate_posthoc.log",
    benchmark:
        "benchmarks/evaluate_posthoc.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
    shell:
        "diffrepro evaluate-posthoc --params " + PARAMS_FILE + " --log {log} --samples {input.samples} "
        "--generator-metrics {input.generator_metrics} --classifier {input.classifier} --inception {input.inception} --references {params.references} "
        "--out {output.metrics} --out-csv {output.csv} --out-png {output.png} --out-svg {output.svg}"
