"""The Runs screen's table and details."""
