"""Offline engines: point-in-time retrieval and the latest-per-entity step of materialization.

Layer 5: engines speak Arrow and plain query objects (:mod:`pitstore.offline.base`); they never
import the store facade, the CLI or the server.
"""
