"""Cluster mode on Ray (docs/SCALE.md): the only package that imports `ray`.

`placement` (the policy, plain data), `directory` (the actor on the head that places and
finds sessions), `node` (a render box: a `SessionManager` in a Ray actor), `front` (the
front's stand-in for the manager), `connect` (joining a cluster), `generation` (the style
pipeline on Ray Serve). The single-box server never imports this package.
"""
