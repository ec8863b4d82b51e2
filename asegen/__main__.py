"""``python -m asegen`` runs the command line (also under ``torchrun -m asegen``)."""

from asegen.cli import main

if __name__ == "__main__":
    main()
