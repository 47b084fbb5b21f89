class ReferralError(Exception):
    """A domain error that views turn into a form message and the API into 400/409."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionNotAllowed(ReferralError):
    pass


class ReasonRequired(ReferralError):
    pass


class QueueNotAllowed(ReferralError):
    pass
