rule snr:
    """SNR of the forward process per schedule, averaged over the training images (Deja et al. Fig 1, 8)."""
    input:
        code("snr"),
        data=data_file(ANALYSIS["snr"]["data"]),
    output:
        csv="results/analysis/snr.csv",
        summary="results/analysis/snr.json",
        png=report_figure("results/figures/snr.png", "snr", "deja", "snr (Fig 1, 8)"),
        svg="results/figures/snr.svg",
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
        "diffrepro snr --params " + PARAMS_FILE + " --log {log} --data {input.data} "
        "--out-csv {output.csv} --out-json {output.summary} --out-png {output.png} --out-svg {output.svg}"


rule reconstruction:
    """Reconstruction error of a DDGM from x_t over the first steps, in- vs out-of-domain (Deja et al. Fig 2, 3)."""
    input:
        code("reconstruction"),
        weights=f"models/{ANALYSIS['reconstruction']['model']}/ema.safetensors",
        data=model_data_file(ANALYSIS["reconstruction"]["model"]),
    output:
        csv="results/analysis/reconstruction.csv",
        summary="results/analysis/reconstruction.json",
        png=report_figure("results/figures/reconstruction.png", "reconstruction", "deja", "reconstruction (Fig 2, 3)"),
        svg="results/figures/reconstruction.svg",
    params:
        seed=config["seed"],
        reconstruction=ANALYSIS["reconstruction"],
    log:
        "logs/reconstruction.log",
    benchmark:
        "benchmarks/reconstruction.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=2000,
    shell:
        "diffrepro reconstruction --params " + PARAMS_FILE + " --log {log} --weights {input.weights} --data {input.data} "
        "--out-csv {output.csv} --out-json {output.summary} --out-png {output.png} --out-svg {output.svg}"


rule transferability:
    """Table 2: the DDGMs' reverse process from s vs the post-hoc DAE in one pass, on several target sets."""
    input:
        code("transferability"),
        ddgms=[f"models/{m}/ema.safetensors" for m in ANALYSIS["transferability"]["models"].values()],
        dae=f"models/daed_posthoc/{TRANSFER_SPLIT}/ema.safetensors",
        data=model_data_file(next(iter(ANALYSIS["transferability"]["models"].values()))),
    output:
        csv="results/analysis/transferability.csv",
        md=report_table("results/tables/deja_table2.md", "deja_table2", "deja_table2"),
        tex="results/tables/deja_table2.tex",
        png=report_figure("results/figures/transferability.png", "transferability", "deja",
                          "transferability (Table 2, examples)"),
        svg="results/figures/transferability.svg",
    params:
        seed=config["seed"],
        transferability=ANALYSIS["transferability"],
        ddgm_args=" ".join(f"--ddgm {m}=models/{m}/ema.safetensors"
                           for m in (ANALYSIS["transferability"]["models"][k] for k in ("vlb", "simple"))),
    log:
        "logs/transferability.log",
    benchmark:
        "benchmarks/transferability.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: MODEL_THREADS
    resources:
        mem_mb=2000,
    shell:
        "diffrepro transferability --params " + PARAMS_FILE + " --log {log} {params.ddgm_args} --dae {input.dae} "
        "--data {input.data} --out-csv {output.csv} --out-md {output.md} --out-tex {output.tex} --out-png {output.png} "
        "--out-svg {output.svg}"


rule toy_examples:
    """Fig 6b: photos noised to beta_1 and denoised by the DDGM and by the post-hoc DAED."""
    input:
        code("toy_examples"),
        weights=f"models/{ANALYSIS['toy_examples']['model']}/ema.safetensors",
        dae=f"models/daed_posthoc/{TOY_SPLIT}/ema.safetensors",
    output:
        csv="results/analysis/toy_examples.csv",
        png=report_figure("results/figures/toy_examples.png", "toy_examples", "deja", "toy_examples (Fig 6b)"),
        svg="results/figures/toy_examples.svg",
    params:
        seed=config["seed"],
        toy_examples=ANALYSIS["toy_examples"],
    log:
        "logs/toy_examples.log",
    benchmark:
        "benchmarks/toy_examples.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "diffrepro toy-examples --params " + PARAMS_FILE + " --log {log} --weights {input.weights} --dae {input.dae} "
        "--out-csv {output.csv} --out-png {output.png} --out-svg {output.svg}"


rule dynamics:
    """Fig 14/15: per-step NLL of the DDGM, the DDGM without its first step and the joint DAED."""
    input:
        code("dynamics"),
        ddgm_nll=f"results/nll/{ANALYSIS['dynamics']['ddgm']}.csv",
        daed_nll=f"results/nll/{ANALYSIS['dynamics']['daed']}.csv",
        loss_by_t=f"results/train/{ANALYSIS['dynamics']['ddgm']}/loss_by_t.csv",
    output:
        csv="results/analysis/dynamics.csv",
        summary="results/analysis/dynamics.json",
        png=report_figure("results/figures/dynamics.png", "dynamics", "deja", "dynamics (Fig 14, 15)"),
        svg="results/figures/dynamics.svg",
    params:
        dynamics=ANALYSIS["dynamics"],
    log:
        "logs/dynamics.log",
    benchmark:
        "benchmarks/dynamics.tsv"
    conda:
        "../envs/diffrepro.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "diffrepro dynamics --params " + PARAMS_FILE + " --log {log} --ddgm-nll {input.ddgm_nll} --daed-nll {input.daed_nll} "
        "--ddgm-loss-by-t {input.loss_by_t} --out-csv {output.csv} --out-json {output.summary} --out-png {output.png} "
        "--out-svg {output.svg}"
