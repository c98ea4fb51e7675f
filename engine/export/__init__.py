"""Exporters: pictures and files made from frames."""
