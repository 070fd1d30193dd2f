"""Widgets the studio's screens are built from."""
