"""DVAE (Mittal & Wang 2020): disentangled audio VAE (stage 1) and talking-head GAN (stage 2).

Kept free of torch imports so :mod:`models.dvae.view` loads without torch."""
