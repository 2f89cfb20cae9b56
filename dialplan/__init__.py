"""The Asterisk side: configuration rendered from the data (Jinja2 templates)."""
