"""The analyses of the studies, pure functions without DAG wiring (the steps read their inputs and write their
outputs):

* :mod:`.image_quality`: per-image :func:`~.image_quality.mae` and :func:`~.image_quality.ms_ssim`
  (pytorch_msssim, with a documented rule for small images, :func:`~.image_quality.ms_ssim_settings`);
* :mod:`.snr`: :func:`~.snr.snr_curve`, the data-set averaged SNR / log-SNR, its discrete derivative and zero
  crossing (Deja et al. Fig. 1, 8);
* :mod:`.reconstruction`: :func:`~.reconstruction.reconstruction_error` from step ``t`` and
  :func:`~.reconstruction.first_fraction_steps` (Fig. 2, 3);
* :mod:`.transferability`: a DDGM's reverse process from ``s`` against the post-hoc DAE in one pass (Table 2,
  Fig. 6b), with :mod:`.loading` for the trained networks they compare;
* :mod:`.dynamics`: the per-step NLL contributions and the loss per timestep over training (Fig. 14, 15).

The package imports none of them: each step imports the modules it runs.
"""
