"""The Chat screen's widgets: the conversation and the input that remembers its lines."""
