"""Bedrock's error codes, their HTTP status and the message Bedrock gives when it gives a fixed one."""

from __future__ import annotations

# code -> (HTTP status, default message)
ERRORS: dict[str, tuple[int, str]] = {
    "ValidationException": (400, "Malformed input request, please reformat your input and try again."),
    "AccessDeniedException": (403, "You don't have access to the model with the specified model ID."),
    "ResourceNotFoundException": (404, "The requested resource could not be found."),
    "ModelTimeoutException": (408, "Model has timed out in processing the request. Try your request again."),
    "ModelErrorException": (
        424,
        "The system encountered an unexpected error during processing. Try your request again.",
    ),
    "ThrottlingException": (429, "Too many requests, please wait before trying again."),
    "ModelNotReadyException": (429, "Model is not ready to serve inference requests. Try again later."),
    "ServiceQuotaExceededException": (400, "Your request exceeds the service quota for your account."),
    "InternalServerException": (
        500,
        "The server encountered an internal error while processing the request.",
    ),
    "ServiceUnavailableException": (503, "Bedrock is unable to process your request."),
    # ConverseStream only: the stream broke after it began (a "stream" fault, faults.py).
    "ModelStreamErrorException": (424, "An error occurred while streaming the response. Retry your request."),
}

INVALID_MODEL = "The provided model identifier is invalid."
END_OF_LIFE = (
    "This model version has reached the end of its life. "
    "Please refer to the AWS documentation for more details."
)


class BedrockError(Exception):
    def __init__(self, code: str, message: str | None = None):
        status, default = ERRORS[code]
        super().__init__(message or default)
        self.code = code
        self.message = message or default
        self.status = status


def validation(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)
