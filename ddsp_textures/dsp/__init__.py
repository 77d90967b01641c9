"""Signal processing, the floor everything else stands on: safe numerics, cochlear and modulation filterbanks,
envelopes, spectra, framing and audio files."""
