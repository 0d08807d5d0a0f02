"""dyndiet: property-based verification of the Linux dynamic-debug diet designs."""

__version__ = "0.1.0"
