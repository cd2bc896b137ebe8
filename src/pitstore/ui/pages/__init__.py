"""The UI's pages, each a function from what it shows to a complete HTML document."""
