rule train_ddgm:
    """Train one DDGM; a rerun after a failure resumes from checkpoints/{wildcards.model}."""
    input:
        code("train_ddgm"),
        data=DATA,
    output:
        weights="models/{model}/ema.safetensors",
        loss="results/train/{model}/loss.csv",
        summary="results/train/{model}/summary.json",
    params:
        seed=config["seed"],
        model=lambda w: model_section(w.model, "objective", "schedule", "timesteps", "unet", "train"),
        checkpoints=lambda w: f"checkpoints/{w.model}",
    log:
        "logs/train_ddgm/{model}.log",
    benchmark:
        "benchmarks/train_ddgm/{model}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=6000,
        gpu=1,  # GPU-hungry: on a cluster profile this maps to a GPU request
    shell:
        "diffrepro train-ddgm --params params.yaml --log {log} "
        "--model {wildcards.model} --data {input.data} --checkpoint-dir {params.checkpoints} "
        "--weights {output.weights} --loss-csv {output.loss} --summary {output.summary}"


rule sample:
    """Ancestral sampling from the EMA weights; records samples per second."""
    input:
        code("sample"),
        weights="models/{model}/ema.safetensors",
    output:
        samples="results/samples/{model}.safetensors",
        grid=report(
            "results/figures/samples_{model}.png",
            caption="../report/samples.rst",
            category="Samples",
            labels={"model": "{model}"},
        ),
    params:
        seed=config["seed"],
        model=lambda w: model_section(w.model, "objective", "schedule", "timesteps", "unet", "sample"),
    log:
        "logs/sample/{model}.log",
    benchmark:
        "benchmarks/sample/{model}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro sample --params params.yaml --log {log} "
        "--model {wildcards.model} --weights {input.weights} --out {output.samples} --grid {output.grid}"
