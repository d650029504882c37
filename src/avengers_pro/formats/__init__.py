"""Readers (and writers) of other tools' record layouts, each in a module of its own."""
