"""Error types. ``InputError`` means the input or the request is unusable: the command line prints its
message as one line on stderr and exits with status 2."""


class InputError(ValueError):
    """The input data or request cannot be used; the message says what is wrong and what to do."""
