"""Step: draw samples from a trained DDGM with its configured reverse sampler (ancestral over all T
steps, respaced ancestral or DDIM on K steps); samples per second go to its timing file (:mod:`diffrepro.timing`).

``--composed NAME`` samples a composed DAED (``daed.composed``, :mod:`diffrepro.steps.compose_daed`) as the model
of its generator (``--model``): its weights must say they are that composed DAED, the samples say so too, and the
noise stream is the generator's model's, so its samples and the composed DAED's share every step but the last."""

from __future__ import annotations

from ..config import load_config, model_config, run_seed
from ..devices import resolve_device
from ..diffusion.samplers import check_steps
from ..reporting.figures import save_sample_grid
from ..runlog import get_logger
from ..sampling import sample_weights
from ..tensorfile import save_safetensors
from ..timing import write_timing


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    scfg = mcfg.sample
    device = resolve_device(args.device)
    seed = run_seed(config, getattr(args, "seed", None))
    composed = getattr(args, "composed", None)
    samples, seconds, image_size = sample_weights(
        args.weights,
        mcfg,
        seed=seed,
        stream=args.model,
        device=device,
        desc=f"sample {args.model}",
        speed=config["speed"],
        # the weights of this run, not another model's or seed's (nor a composed DAED's unless asked for)
        expect={"model": args.model, "seed": str(seed), "composed": composed},
    )
    n = samples.shape[0]
    rate = n / seconds
    steps = check_steps(mcfg.timesteps, scfg.steps)
    save_safetensors(
        {"images": samples},
        args.out,
        {
            "model": args.model,
            "seed": str(seed),
            "num_samples": str(n),
            "batch_size": str(scfg.batch_size),
            "precision": scfg.precision,
            "variance": mcfg.variance,
            "device": device,
            "timesteps": str(mcfg.timesteps),
            "method": scfg.method,
            "steps": str(steps),
            "native_image_size": str(image_size),
            "eta": str(scfg.eta),
            **({"composed": composed} if composed else {}),
        },
    )
    save_sample_grid(samples, args.grid)
    timing = {
        "seconds": round(seconds, 3),
        "samples_per_second": round(rate, 4),
        "seconds_per_sample": round(seconds / n, 6),
    }
    write_timing(args.timing, f"sample {composed or args.model} seed {seed}", timing)
    log.info(
        "sampled %d images in %.1f s (%.2f samples/s, %s, %d steps) -> %s",
        n,
        seconds,
        rate,
        scfg.method,
        steps,
        args.out,
    )
