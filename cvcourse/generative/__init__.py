"""Chapter 7: autoencoders and variational autoencoders.

* :mod:`.losses`: the VAE's loss, term by term: ``kl_normal`` (closed-form KL to N(0, I), equal to
  ``torch.distributions.kl_divergence``), ``reparameterize`` (z = mu + sigma * eps), ``vae_loss``,
  ``elbo``, the importance-weighted bound and bits per dimension;
* :mod:`.models`: ``Autoencoder``, ``LinearAutoencoder``, ``VAE`` with small MLP and conv encoders
  and decoders;
* :mod:`.training`: training an autoencoder or a (beta-)VAE through ``cvcourse.train.fit``;
* :mod:`.compression`: PCA, uniform quantisation of a code, and JPEG (Pillow) at a byte budget;
* :mod:`.latent`: interpolation, sampling, distances to the data, corruption for denoising and
  inpainting;
* :mod:`.factors`: single-shape images rendered from known factors (shape, x, y, size, colour);
* :mod:`.disentanglement`: mutual information, MIG and latent correlations against the factors;
* :mod:`.pretrained`: the models the course ships (``data/``), checksum verified;
* :mod:`.widgets`: ``latent_explorer()``.
"""
