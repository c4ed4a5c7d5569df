"""`python -m aicity …` is the `aicity` command (children of the nightly job start this way)."""
from aicity.cli import main

if __name__ == "__main__":
    main()
