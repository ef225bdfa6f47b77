"""Code that serves one chapter's study and nothing else (see docs/design.md, "Layout").

Once a second chapter needs something here, it moves to the module of its concern.
"""
