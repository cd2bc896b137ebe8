"""Online stores: the latest value per (view, entity), read at low latency.

Layer 5: stores speak Arrow and bytes (:mod:`pitstore.online.base`); they never import the store
facade, the CLI or the server.
"""
