"""Front ends for MiniGPT: the `minigpt` CLI and the Textual studio."""
