"""Pure renderers: a Spec (and the existing credentials) in, workspace path -> bytes out.

Only :mod:`kopsgen.workspace` writes what these return.
"""
