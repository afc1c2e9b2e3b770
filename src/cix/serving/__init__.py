"""Serving a node over HTTP: the one-server claim, the serving process, its workers.

This is the layer that may know both the node and the web app (`cix.api`): `cix.node`
knows neither HTTP nor its server, and `cix serve` (`cix.cli.node`) calls only this.
"""
