"""The ``pitstore`` command line: a thin layer over :class:`pitstore.FeatureStore` (layer 7)."""
