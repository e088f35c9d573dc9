"""The operator's workbench in the browser (Dash and Plotly), a thin layer over io, edges, structure and
the pipeline: load a spectrum, click its edge, see the ranked identification and the proposed structure
in 3D, run the analysis step by step with every registered method, download the report.

``create_app()`` returns the Dash app; ``serve(host, port)`` runs it (``exelfs gui``)."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
