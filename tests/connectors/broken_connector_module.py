"""A connector module that fails at import, to show one bad plug-in doesn't stop the app."""

raise RuntimeError("this connector module is broken on purpose")
