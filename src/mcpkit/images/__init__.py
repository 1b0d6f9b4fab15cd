"""Local container images for servers: ``mcpkit build`` and the records of what went in.

:func:`mcpkit.images.build.build_image` builds; :mod:`mcpkit.images.records` keeps one
:class:`~mcpkit.images.records.BuildRecord` per server, which the docker runtime reads
(:func:`~mcpkit.images.records.record_for`) to run a package server as its image.
"""
