package com.melanomaexp.core

import java.net.URI
import java.net.URISyntaxException

/** What the settings screen edits; persisted by the Android layer (SharedPreferences). */
data class AppSettings(
    val endpointUrl: String = DEFAULT_ENDPOINT,
    val apiKey: String = "",
    val mode: InferenceMode = InferenceMode.REMOTE,
    val timeoutSeconds: Int = 30,
    /** "Show where the model looked": remote analyses ask for the explanation (`?explain=1`). */
    val showExplanation: Boolean = false,
) {
    /** Problems per field ("endpointUrl" -> message); empty when the settings can be saved. */
    fun validate(): Map<String, String> {
        val errors = linkedMapOf<String, String>()
        val url = endpointUrl.trim()
        if (mode == InferenceMode.REMOTE || url.isNotEmpty()) {
            val problem = urlProblem(url)
            if (problem != null) errors["endpointUrl"] = problem
        }
        if (apiKey.any { it.isWhitespace() || it.code < 0x20 }) errors["apiKey"] = "The API key must not contain spaces or line breaks."
        if (timeoutSeconds !in 5..120) errors["timeoutSeconds"] = "The timeout must be between 5 and 120 seconds."
        return errors
    }

    /** The client configuration these settings describe (call after [validate] is empty). */
    fun endpoint(): EndpointConfig = EndpointConfig(
        baseUrl = endpointUrl.trim(),
        apiKey = apiKey.ifBlank { null },
        connectTimeoutMs = minOf(10, timeoutSeconds) * 1000,
        readTimeoutMs = timeoutSeconds * 1000,
    )

    private fun urlProblem(url: String): String? {
        if (url.isEmpty()) return "Enter the endpoint URL, e.g. $DEFAULT_ENDPOINT"
        val uri = try {
            URI(url)
        } catch (e: URISyntaxException) {
            return "Not a valid URL: ${e.reason}"
        }
        if (uri.scheme != "http" && uri.scheme != "https") return "The URL must start with https:// (or http:// for a local server)."
        if (uri.host.isNullOrEmpty()) return "The URL has no host name."
        // Photos of skin are health data: plain http only towards the developer's own machine.
        if (uri.scheme == "http" && uri.host !in LOCAL_HOSTS) return "Use https:// for servers other than this computer or the emulator host."
        return null
    }

    companion object {
        /** The emulator's address of the developer machine running `make serve`. */
        const val DEFAULT_ENDPOINT = "http://10.0.2.2:8000"
        private val LOCAL_HOSTS = setOf("10.0.2.2", "127.0.0.1", "localhost")
    }
}
