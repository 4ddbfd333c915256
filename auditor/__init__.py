"""The auditor surface: a read-only HTTP API and web page over the catalog.

It reads through ``models.ports.CatalogReader``, records every access in the audit chain
(``AccessLog``), hands out short-lived links to archived objects (``PlaybackLinks``) and, for
the compliance-officer role only, places and releases legal holds through the same service the
``recvault hold`` commands use. It never changes a recording.
"""
