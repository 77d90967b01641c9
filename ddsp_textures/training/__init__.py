"""Training: configs, datasets, the training loss, the trainer, run directories, distributed training and the
model builders."""
