package com.melanomaexp.core

/**
 * Every way a prediction request can fail, typed so the state machine can choose the next screen
 * (retry, fix settings, take another photo, or offer on-device inference) without parsing strings.
 */
sealed class ApiError(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** No route to the endpoint (offline, DNS, refused): on-device inference is offered. */
    class Network(message: String, cause: Throwable? = null) : ApiError(message, cause)

    /** Connected, but no answer within the read timeout: retry is offered. */
    class Timeout(message: String, cause: Throwable? = null) : ApiError(message, cause)

    /** The user cancelled the upload. */
    class Cancelled : ApiError("upload cancelled")

    /** 400: the server could not read the photo as an image. */
    class BadImage(val code: String, message: String) : ApiError(message)

    /** 401: an API key is required and was missing or wrong: the settings screen is offered. */
    class Unauthorized(val code: String, message: String) : ApiError(message)

    /** 413: the photo is larger than the endpoint accepts. */
    class TooLarge(val code: String, message: String) : ApiError(message)

    /** 415: a format the endpoint does not accept. */
    class UnsupportedType(val code: String, message: String) : ApiError(message)

    /** Any other non-200 status (5xx, 429 throttling, ...). */
    class Server(val status: Int, val code: String, message: String) : ApiError(message)

    /** A 200 whose body is not the contract-5 answer (wrong endpoint, proxy page, ...). */
    class InvalidResponse(message: String, cause: Throwable? = null) : ApiError(message, cause)

    /** True when trying the very same request again can help. */
    val retryable: Boolean
        get() = this is Network || this is Timeout || this is Cancelled ||
            (this is Server && (status >= 500 || status == 429))

    /** True when the on-device model is the sensible fallback (the endpoint is unreachable). */
    val offersOnDevice: Boolean
        get() = this is Network || this is Timeout
}
