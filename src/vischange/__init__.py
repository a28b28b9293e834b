"""vischange: how fine-tuning changes the features of a pretrained CNN."""

__version__ = "0.1.0"
