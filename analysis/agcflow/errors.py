"""Exception types: each says what failed, where, and what would be valid."""


class AgcflowError(Exception):
    """Base class of every error agcflow raises on purpose."""


class ConfigError(AgcflowError):
    """A configuration key or value is invalid."""


class InputFileError(AgcflowError):
    """An input file is missing, unreadable, or not what was expected."""


class BackendError(AgcflowError):
    """An unknown backend name, or a backend that cannot be used here."""


class ServiceError(AgcflowError):
    """A remote service (ServiceX, XRootD, HEPData) is unreachable or failed."""
