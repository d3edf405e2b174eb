"""Example ERP: a complete connector plugin for Recompra Pipelines, as the guide builds it."""
