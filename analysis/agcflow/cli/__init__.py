"""The command-line interface: the ``agcflow`` group (``main``) and one module per command family."""
