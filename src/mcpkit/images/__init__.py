"""Local container images for servers: ``mcpkit build`` and the records of what went in.

:func:`mcpkit.images.build.build_image` builds; :mod:`mcpkit.images.records` keeps one
:class:`~mcpkit.images.records.BuildRecord` per server, which the docker runtime reads
(:func:`~mcpkit.images.records.record_for`) to run a package server as its image.

The build is split by what each part touches: :mod:`~mcpkit.images.build` (the service:
request, spec lookup, up-to-date check, record), :mod:`~mcpkit.images.fetch` (pip and
npm on the host), :mod:`~mcpkit.images.context` (generated Dockerfiles and requirements),
:mod:`~mcpkit.images.folder` (context folders, their digest and tarball) and
:mod:`~mcpkit.images.engine_build` (everything sent to the engine).
"""
