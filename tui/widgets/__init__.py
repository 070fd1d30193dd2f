"""Screens and widgets of the studio."""
