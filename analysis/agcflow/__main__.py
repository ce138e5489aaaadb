"""``python -m agcflow``: the command line."""

from agcflow.cli.main import main

if __name__ == "__main__":  # worker processes re-import this module; they must not run the CLI
    main()
