"""rasa-sdk actions: read slots, call analytics and the store, render, return events."""
