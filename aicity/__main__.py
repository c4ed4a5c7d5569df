"""`python -m aicity …` is the `aicity` command."""
from aicity.cli import main

if __name__ == "__main__":
    main()
