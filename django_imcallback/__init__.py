"""Receive, store and announce OpenIM server callbacks in Django."""

__version__ = "0.1.0.dev0"
