"""The Experiments screen's widgets: the race table and curves, and its form."""
