"""edgeimpro: image CNNs from Keras to Cortex-M and Raspberry Pi, proven bit-exact."""

__version__ = "0.1.0"
