"""Inference: resynthesis, generation, streaming and the TorchScript export of trained models."""
