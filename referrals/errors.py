class ReferralError(Exception):
    """A domain error that views turn into a form message and the API into 400/409."""

    # The HTTP status that answers it, on the case page and in the API alike.
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransitionNotAllowed(ReferralError):
    """The referral's state does not allow it (409)."""


class ChangedSinceShown(TransitionNotAllowed):
    """The referral changed since the page the move was chosen on showed it (409). ``now``:
    its status and assignee as they are, for a page that names several referrals at once."""

    def __init__(self, message: str, *, now: str) -> None:
        super().__init__(message)
        self.now = now


class InvalidInput(ReferralError):
    """What was sent is missing or wrong, whatever the referral's state (400)."""

    status = 400


class ReasonRequired(InvalidInput):
    pass


class ChoiceRequired(InvalidInput):
    """A queue or an urgency that is not one of the clinic's."""


class QueueNotAllowed(ReferralError):
    pass


class PreconditionFailed(ReferralError):
    """The referral is no longer the version the request named (the API's If-Match): 412,
    nothing saved. ``etag``: its tag now."""

    status = 412

    def __init__(self, message: str, *, etag: str) -> None:
        super().__init__(message)
        self.etag = etag
