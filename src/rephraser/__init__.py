"""rephraser: turn documents into synthetic pretraining data and measure whether it helps."""

__version__ = "0.1.0"
