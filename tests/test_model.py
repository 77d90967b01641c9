import torch

from ddsp_textures.models import TexDSP, count_parameters


def _model(shift_carriers: bool = False):
    torch.manual_seed(0)
    return TexDSP(["energy_bands", "centroid"], 4096, 16000, 8, 32, hidden_enc=16, hidden_dec=16, seed=3,
                  shift_carriers=shift_carriers)


def _features(b, s):
    return [torch.randn(b, s, 8), torch.rand(b, s, 1)]


def test_output_shape_and_seed_in_state_dict():
    model = _model()
    y = model(_features(3, 5))
    assert y.shape == (3, 5, 4096) and torch.isfinite(y).all()
    assert "synth.carriers" in model.state_dict()
    assert count_parameters(model) > 0


def test_gru_runs_over_time_not_over_the_batch():
    model = _model()
    feats = _features(4, 3)
    batched = model(feats)
    single = model([f[:1] for f in feats])
    torch.testing.assert_close(batched[:1], single, rtol=1e-5, atol=1e-5)   # items do not interact
    changed = [f.clone() for f in feats]
    changed[0][:, 0] += 1.0                                                  # change frame 0 only
    out = model(changed)
    assert not torch.allclose(out[:, 1], batched[:, 1])                      # later frames remember it
    later = [f.clone() for f in feats]
    later[0][:, 2] += 1.0                                                    # change the last frame
    torch.testing.assert_close(model(later)[:, :2], batched[:, :2])          # causal: earlier frames unchanged


def test_gradients_reach_every_parameter():
    model = _model()
    model(_features(2, 2)).pow(2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_synthesize_imposes_specific_loudness():
    model = _model()
    target = torch.rand(1, 2, 8) + 0.1
    y = model.synthesize(_features(1, 2), "specific", target)
    assert y.shape == (1, 2, 4096)
    generic = model.synthesize(_features(1, 2), "generic", torch.tensor([[0.3, 0.7]]))
    torch.testing.assert_close(generic.pow(2).mean(-1).sqrt(), torch.tensor([[0.3, 0.7]]), rtol=1e-3, atol=1e-4)


def test_training_forward_shifts_the_carriers_of_every_frame_at_random():
    model = _model(shift_carriers=True)
    feats = _features(2, 3)
    coeffs = model.decode(model.encode(feats)[0])
    torch.manual_seed(5)
    y = model(feats)
    torch.manual_seed(5)
    shifts = torch.randint(0, 4096, (2, 3))
    torch.testing.assert_close(y, model.synth(coeffs, shifts=shifts))       # the drawn shifts, frame by frame
    assert not torch.allclose(y, model.synth(coeffs), atol=1e-3)            # not the unshifted carriers
    assert len(set(shifts.reshape(-1).tolist())) > 1
    torch.testing.assert_close(y.pow(2).mean(-1), model.synth(coeffs).pow(2).mean(-1), rtol=0.05, atol=1e-6)


def test_bf16_networks_stay_close_to_float32_and_feed_float32_synths():
    model = _model()
    feats = _features(2, 3)
    reference = model.decode(model.encode(feats)[0])
    model.encoder.network_dtype = torch.bfloat16                 # mixed precision, as the trainer sets on a GPU
    latent, state = model.encode(feats)
    coeffs = model.decode(latent)
    assert latent.dtype == state.dtype == torch.float32 and coeffs.dtype == torch.complex64
    assert float((coeffs - reference).detach().abs().max() / reference.detach().abs().max()) < 0.05
    y = model(feats)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    y.pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_positive_dc_fixes_the_envelope_mean_sign():
    import math

    from ddsp_textures.synths.texenv import coefficients_from_logits, envelopes_from_coefficients
    from ddsp_textures.training.builders import build_model
    from ddsp_textures.training.config import TrainConfig

    length, n, p = 1024, 3, 8
    magnitude = torch.randn(2, n * p)
    phase = torch.full((2, n * p), 0.0)                       # sigmoid(0) = 1/2: every phase π
    free = envelopes_from_coefficients(coefficients_from_logits(magnitude, phase, n, length), length)
    fixed = envelopes_from_coefficients(coefficients_from_logits(magnitude, phase, n, length, True), length)
    dc = torch.sigmoid(magnitude).reshape(2, n, p)[..., 0]    # |C0| / √L
    torch.testing.assert_close(free.mean(-1), -dc, rtol=1e-5, atol=1e-6)        # cos π = −1
    torch.testing.assert_close(fixed.mean(-1), dc, rtol=1e-5, atol=1e-6)
    harmonics = coefficients_from_logits(magnitude, phase, n, length, True)[..., 1:]
    torch.testing.assert_close(harmonics, coefficients_from_logits(magnitude, phase, n, length)[..., 1:])
    assert math.isclose(float(fixed.mean(-1).min()), float(dc.min()), rel_tol=1e-5)
    cfg = TrainConfig(audio_path="procedural:fire", frame_size=4096, hop_size=2048, sampling_rate=16000,
                      N_filter_bank=8, param_per_env=32, positive_dc=True)
    assert build_model(cfg).positive_dc and not _model().positive_dc
