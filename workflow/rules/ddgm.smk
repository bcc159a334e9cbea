rule train_ddgm:
    """Train one DDGM; a rerun after a failure resumes from checkpoints/{wildcards.model}."""
    input:
        code("train_ddgm"),
        data=lambda w: model_data_file(w.model),
    output:
        weights="models/{model}/ema.safetensors",
        snapshots=directory("models/{model}/snapshots"),
        loss="results/train/{model}/loss.csv",
        loss_by_t="results/train/{model}/loss_by_t.csv",
        summary="results/train/{model}/summary.json",
    params:
        seed=config["seed"],
        model=lambda w: model_section(w.model, *TRAIN_KEYS),
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
        "diffrepro train-ddgm --params " + PARAMS_FILE + " --log {log} "
        "--model {wildcards.model} --data {input.data} --checkpoint-dir {params.checkpoints} "
        "--weights {output.weights} --snapshots {output.snapshots} --loss-csv {output.loss} "
        "--loss-by-t-csv {output.loss_by_t} --summary {output.summary}"


rule sample:
    """Sampling from the EMA weights with the model's reverse sampler; records samples per second."""
    input:
        code("sample"),
        weights="models/{model}/ema.safetensors",
    output:
        samples="results/samples/{model}.safetensors",
        grid=report_samples("results/figures/samples_{model}.png", "samples", lambda w: model_study(w.model), "{model}"),
    params:
        seed=config["seed"],
        model=lambda w: model_section(w.model, *SAMPLE_KEYS),
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
        "diffrepro sample --params " + PARAMS_FILE + " --log {log} "
        "--model {wildcards.model} --weights {input.weights} --out {output.samples} --grid {output.grid}"


rule nll:
    """Bits/dim on the test split (exact VLB over all T steps) and the per-step NLL terms."""
    input:
        code("nll"),
        weights="models/{model}/ema.safetensors",
        data=lambda w: model_data_file(w.model),
    output:
        metrics="results/metrics/nll/{model}.json",
        terms="results/nll/{model}.csv",
    params:
        seed=config["seed"],
        nll_images=config["evaluation"]["nll_images"],
        model=lambda w: model_section(w.model, *NLL_KEYS),
    log:
        "logs/nll/{model}.log",
    benchmark:
        "benchmarks/nll/{model}.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=4000,
        gpu=1,
    shell:
        "diffrepro nll --params " + PARAMS_FILE + " --log {log} --model {wildcards.model} "
        "--weights {input.weights} --data {input.data} --out {output.metrics} --terms-csv {output.terms}"
