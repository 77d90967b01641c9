"""Texture statistics: the TexStat statistics and loss, and the frame features the models are conditioned on."""
