"""The Textual studio: Train, Generate, Chat and Model screens over `core` sessions."""
