"""trainset: a dataset service for LoRA trainers."""

__version__ = "0.1.0"
